"""Cache building blocks shared by both tiers: a byte-budgeted LRU and single-flight."""

from predictor.cache.lru import ByteLRU
from predictor.cache.singleflight import SingleFlight

__all__ = ["ByteLRU", "SingleFlight"]
