"""The prediction path: REST sidecar + gRPC inference server over shared model code (sdk.models).

Generated gRPC code lives in predictor.generated (run `python -m predictor.build_proto`).
"""
