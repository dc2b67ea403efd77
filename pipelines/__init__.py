"""Training pipelines: corpus -> fit -> evaluate on held-out -> publish, one per model kind.

``PIPELINES`` maps each kind to its pipeline class (``"module:Class"``) in run order, as
declared in ``nlpsvc.kinds`` (ngram before lstm, whose mix weight is tuned with the n-gram
model; embeddings before the families that may reuse them).
"""

from __future__ import annotations

from nlpsvc import kinds

PIPELINES: dict[str, str] = kinds.pipelines()
