"""Fixtures for the Kubernetes adapter: a fresh kmock emulator per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.kubernetes.emulator import Cluster, running


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with running() as emulated:
        yield emulated
