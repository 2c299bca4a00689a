"""The index keys and capacity arithmetic both stores share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from functions.domain import lifecycle
from functions.domain.admission import Capacity, PoolPolicy
from functions.store import rules
from sdk.contracts.errors import CapacityExhausted, InvalidTransition
from sdk.contracts.specs import FailureKind
from tests.store_contract import at, job


def test_utc_iso_is_fixed_width_so_string_order_is_time_order() -> None:
    moments = [
        datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC),
        datetime(2030, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC),
        datetime(2030, 1, 1, 2, 0, 0, tzinfo=timezone(timedelta(hours=3))),
    ]  # = 2029-12-31T23:00Z
    stamps = [rules.utc_iso(m) for m in moments]
    assert stamps == ["2030-01-01T00:00:01.000000Z", "2030-01-01T00:00:00.500000Z", "2029-12-31T23:00:00.000000Z"]
    assert sorted(stamps) == [rules.utc_iso(m) for m in sorted(moments)]
    assert rules.utc_iso(datetime(2030, 1, 1)) == "2030-01-01T00:00:00.000000Z"  # naive = UTC


def test_each_state_sits_in_exactly_the_index_it_needs() -> None:
    queued = job("j1", priority=7)
    assert rules.queue_entry(queued) == rules.Entry("gpu#acme", f"2#{queued.created_at.isoformat()}#j1")
    assert rules.deadline_entry(queued) is None and rules.release_entry(queued) is None
    launched = lifecycle.launch(queued, at(0))
    assert rules.queue_entry(launched) is None
    assert rules.deadline_entry(launched) == rules.Entry(
        f"gpu#{rules.deadline_shard('j1')}", "2030-01-01T00:01:00.000000Z"
    )
    failed = lifecycle.fail(launched, at(5), reason="x", kind=FailureKind.TRAINER)
    assert rules.deadline_entry(failed) is None
    assert rules.release_entry(failed) == rules.Entry("gpu", "2030-01-01T00:01:05.000000Z")  # announce again at
    assert rules.release_entry(lifecycle.mark_cleaned(failed, log_key=None)) is None
    never_launched = lifecycle.cancel(queued, at(1))
    assert (rules.queue_entry(never_launched), rules.release_entry(never_launched)) == (None, None)


def test_usage_limits_are_budget_minus_request() -> None:
    policy = PoolPolicy(budget=Capacity(slots=4, cpu_milli=4000, memory_mb=8192, gpu=1))
    assert rules.usage_limits(job("j1", cpu=1.5), policy) == {
        "slots": 3,
        "cpu_milli": 2500,
        "memory_mb": 7168,
        "gpu": 1,
    }
    with pytest.raises(CapacityExhausted):
        rules.usage_limits(job("j1", cpu=5), policy)


def test_launch_and_release_take_only_what_the_lifecycle_produced() -> None:
    queued = job("j1")
    with pytest.raises(InvalidTransition):
        rules.check_launchable(queued)
    launched = lifecycle.launch(queued, at(0))
    rules.check_launchable(launched)
    failed = lifecycle.fail(launched, at(5), reason="x", kind=FailureKind.TRAINER)
    with pytest.raises(InvalidTransition):
        rules.check_releasable(failed)  # not cleaned up yet
    rules.check_releasable(lifecycle.mark_cleaned(failed, log_key=None))
