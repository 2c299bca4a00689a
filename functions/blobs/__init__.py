"""Blob stores: S3 (Amazon S3 or moto's server in local mode) and an in-memory fake."""
