"""Fixtures for SDK unit tests: a fake platform behind an httpx MockTransport."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.sdk.cli_harness import Harness
from tests.unit.sdk.sdk_fake_platform import FakePlatform


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def cli(platform: FakePlatform, tmp_path: Path) -> Harness:
    return Harness(platform, tmp_path)
