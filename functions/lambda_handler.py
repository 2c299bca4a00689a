"""AWS Lambda: the same HTTP API behind API Gateway (v1 or v2 payloads), via mangum.

Handler: `functions.lambda_handler.handler`. Dependencies are built from TRAINYARD_*
environment variables on the first invocation and reused by the warm container.
"""

from __future__ import annotations

from mangum import Mangum

from functions.serve import LazyApi

handler = Mangum(LazyApi(), lifespan="off")
