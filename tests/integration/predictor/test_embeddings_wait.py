"""A predictor pod whose embedding volume has not been populated yet waits, unready, and says
why, instead of exiting into a crash loop; it serves once the populate Job has run."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import pytest

from predictor.inference.server import build_core, wait_for_embeddings
from predictor.inference.settings import InferenceSettings
from sdk.models import embeddings

pytestmark = pytest.mark.integration


def provisioned(directory: Path) -> InferenceSettings:
    return InferenceSettings(
        embeddings_dir=directory, materialize_embeddings=False, embeddings_wait_s=0.05, model_root=directory / "models"
    )


def test_missing_table_is_logged_and_waited_for_until_stopped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    result: list[object] = []
    with caplog.at_level(logging.ERROR):
        waiter = threading.Thread(target=lambda: result.append(build_core(provisioned(tmp_path), stop=stop)))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # still waiting: no exit, so no crash loop
        stop.set()
        waiter.join(5)
    assert result == [None]
    messages = [r.getMessage() for r in caplog.records]
    assert messages and all("embedding table missing" in m and "trainyard-embeddings Job" in m for m in messages)
    assert str(tmp_path) in messages[0]


def test_the_table_is_used_as_soon_as_it_appears(tmp_path: Path, embeddings_dir: Path) -> None:
    target = tmp_path / "volume"
    target.mkdir()

    def populate() -> None:  # as `python -m sdk.models.embeddings` does: the info file last, marking completion
        for path in sorted(embeddings_dir.iterdir(), key=lambda p: p.name == embeddings.INFO_FILE):
            shutil.copy(path, target / path.name)

    copier = threading.Timer(0.2, populate)
    copier.start()
    table = wait_for_embeddings(provisioned(target))
    copier.join()
    assert table is not None and table.info == embeddings.load(embeddings_dir).info
