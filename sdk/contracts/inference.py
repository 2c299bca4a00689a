"""gRPC metadata between the predictor's sidecar and its inference server (beyond the .proto).

Sent by the sidecar: MODEL_DIR, the archive's directory under the shared model root (its
sha256). Trailing metadata of each answer, for the sidecar's metrics: CACHE ("hit" | "miss"),
LOAD_MS (milliseconds spent loading the model, 0 on a hit), INFER_US (microseconds of inference).
"""

from __future__ import annotations

MODEL_DIR = "x-trainyard-model-dir"
CACHE = "x-trainyard-cache"
LOAD_MS = "x-trainyard-load-ms"
INFER_US = "x-trainyard-infer-us"
