"""What a prediction ranks: (label, probability) pairs, highest first.

Shared by the REST sidecar and the inference server; numpy-free so the sidecar does not
import the inference server's postprocessing (numpy) to name the type.
"""

from __future__ import annotations

Ranked = list[tuple[str, float]]
