"""Generators of deployment files from the code's own tables (run by `make manifests`)."""
