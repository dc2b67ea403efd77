"""Training pipelines: corpus -> fit -> evaluate on held-out -> publish, one per model kind.

``PIPELINES`` lists them in run order (embeddings before the families that may reuse them).
"""

from __future__ import annotations

PIPELINES: dict[str, str] = {
    "ngram": "pipelines.ngram:NgramPipeline",
    "embeddings": "pipelines.embeddings:EmbeddingsPipeline",
    "classifier": "pipelines.classifier:ClassifierPipeline",
    "chatbot": "pipelines.chatbot:ChatbotPipeline",
}
