"""Fixtures for SDK unit tests: a fake platform behind an httpx MockTransport."""

from __future__ import annotations

import pytest

from tests.unit.sdk.sdk_fake_platform import FakePlatform


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def sleeps() -> list[float]:
    return []
