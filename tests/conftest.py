"""Shared fixtures: a real moto server (DynamoDB + S3) on 127.0.0.1."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Dummy credentials so boto3/PynamoDB never look for real ones."""
    keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def moto_endpoint(aws_env: None) -> Iterator[str]:
    """A real moto server (HTTP) for the whole session; tests isolate by table/bucket name."""
    from moto.server import ThreadedMotoServer

    from functions.local.moto_isolation import isolate_moto_dynamodb

    undo = isolate_moto_dynamodb()  # as local mode does: DynamoDB isolates transactions, moto does not
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    undo()
