"""Unit tests of the predictor import its generated gRPC code: make sure it exists."""

from __future__ import annotations

import pytest

from predictor import build_proto


def pytest_configure(config: pytest.Config) -> None:
    build_proto.build()  # idempotent: a hash check when the .proto files did not change
