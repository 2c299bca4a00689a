"""knative/base/eventing/triggers.yaml is generated from functions/routing.py ROUTES."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.deploy import manifests as gen
from functions.routing import ROUTES
from sdk.contracts.events import EventType
from tests.unit.deploy.knative_objects import ROOT, load_docs

CHECKED_IN = ROOT / gen.OUTPUT


def test_the_checked_in_triggers_are_exactly_what_the_generator_writes() -> None:
    assert CHECKED_IN.read_text() == gen.render(gen.triggers()), "stale: run `make manifests`"


def test_every_route_has_one_trigger_and_nothing_else() -> None:
    routes = {
        (doc["spec"]["subscriber"]["ref"]["name"], doc["spec"]["filter"]["attributes"]["type"])
        for doc in load_docs(CHECKED_IN)
    }
    assert routes == {(fn, str(t)) for fn, types in ROUTES.items() for t in types}


def test_a_route_added_in_code_makes_the_file_stale(tmp_path: Path) -> None:
    changed = {**ROUTES, "report": ROUTES["report"] | {EventType.JOB_FINISHED}}
    assert gen.render(gen.triggers(changed)) != CHECKED_IN.read_text()


def test_check_fails_on_a_stale_file_and_the_generator_fixes_it(tmp_path: Path) -> None:
    assert gen.main(["--check", "--root", str(tmp_path)]) == 1  # nothing generated there yet
    assert gen.main(["--root", str(tmp_path)]) == 0
    assert gen.main(["--check", "--root", str(tmp_path)]) == 0
    assert (tmp_path / gen.OUTPUT).read_text() == CHECKED_IN.read_text()
    assert gen.main(["--check", "--root", str(ROOT)]) == 0  # the repository itself is up to date


def test_trigger_names_are_readable_and_unique() -> None:
    names = [doc["metadata"]["name"] for doc in gen.triggers()]
    assert len(set(names)) == len(names)
    assert "report-job-epoch" in names and "sweep-ping" in names and "create-task-requested" in names


def test_the_sweep_retries_once_and_everything_else_backs_off_longer() -> None:
    retries = {doc["metadata"]["name"]: doc["spec"]["delivery"]["retry"] for doc in gen.triggers()}
    assert retries.pop("sweep-ping") == 1
    assert set(retries.values()) == {gen.Delivery().retry}


def test_an_overlong_name_is_refused() -> None:
    with pytest.raises(ValueError, match="63"):
        gen.trigger_name("f" * 60, "io.trainyard.job.epoch")
