"""Training pipelines: corpus -> fit -> evaluate on held-out -> publish, one per model kind.

``PIPELINES`` lists them in run order (ngram before lstm, whose mix weight is tuned with the
n-gram model; embeddings before the families that may reuse them).
"""

from __future__ import annotations

PIPELINES: dict[str, str] = {
    "ngram": "pipelines.ngram:NgramPipeline",
    "lstm": "pipelines.lstm:LstmPipeline",  # after ngram: tunes the mix with its model
    "embeddings": "pipelines.embeddings:EmbeddingsPipeline",
    "classifier": "pipelines.classifier:ClassifierPipeline",
    "chatbot": "pipelines.chatbot:ChatbotPipeline",
}
