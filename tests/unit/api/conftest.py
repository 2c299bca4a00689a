"""The API over the harness's fakes, called as a data scientist of tenant acme."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from functions.api.app import create_app
from sdk.auth import tokens
from sdk.auth.tokens import Role
from tests.support.harness import SECRET, Harness, harness


@pytest.fixture
def h() -> Harness:
    return harness()


@pytest.fixture
def client(h: Harness) -> Iterator[TestClient]:
    with TestClient(create_app(h.deps)) as c:
        c.headers["Authorization"] = "Bearer " + tokens.user_token(
            tenant="acme", sub="ana@acme", secret=SECRET, roles=(Role.DATA_SCIENTIST,)
        )
        yield c
