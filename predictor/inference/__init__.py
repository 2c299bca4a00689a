"""The inference server (gRPC): loads models from extracted archives and runs them."""
