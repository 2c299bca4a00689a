"""The sidecar (REST): authenticates, resolves models, caches archives, calls inference."""
