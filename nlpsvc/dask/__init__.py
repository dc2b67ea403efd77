"""Scale-out on Dask (issue 11): batch scoring and n-gram counting on a cluster.

* ``cluster`` - connecting to a scheduler (or starting a ``LocalCluster``), with the clear
  errors: an unreachable scheduler, mismatched versions, no workers, unreadable models.
* ``inputs`` - an input file or fsspec URL planned as record-aligned byte-range partitions.
* ``score`` - ``nlpsvc score --backend dask``: partitions scored on the workers, written under
  ``OUTPUT.parts/`` and concatenated in input order (byte-identical to ``--jobs 1``).

The n-gram counting on workers lives beside the bounded build, in ``nlpsvc.ngram.distributed``.
``dask`` and ``distributed`` are imported only when a Dask backend is used.
"""
