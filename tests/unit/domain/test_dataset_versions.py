"""Dataset versions as pure values: which is the latest (validated) one, and which validation is last."""

from __future__ import annotations

from datetime import timedelta

from functions.domain.approvals import ApprovalState, GrantAction
from functions.domain.approvals import request as grant_request
from functions.domain.datasets import DatasetVersion, Validation, latest
from sdk.contracts.validation import ValidationReport
from tests.support.builders import T0


def version(n: int, *, passed: bool | None = None, at: int = 0) -> DatasetVersion:
    v = DatasetVersion(tenant="acme", project_id="p", name="d", version=n, key=f"k{n}", created_at=T0, created_by="ana")
    return v if passed is None else v.validated_by(check(n, passed=passed, at=at))


def check(n: int, *, passed: bool, at: int = 0) -> Validation:
    errors = 0 if passed else 1
    report = ValidationReport(dataset="d", version=n, validator="v", passed=passed, checked={"errors": errors})
    return Validation(job_id=f"j{at}", task_id="t", finished_at=T0 + timedelta(seconds=at), report=report)


def test_latest_and_latest_validated() -> None:
    found = [version(1, passed=True), version(2, passed=False), version(3)]
    assert latest(found).version == 3  # type: ignore[union-attr]
    assert latest(found, validated=True).version == 1  # type: ignore[union-attr]
    assert latest([version(1)], validated=True) is None
    assert [v.status for v in found] == ["passed", "failed", "unvalidated"]


def test_an_older_validation_never_replaces_a_newer_one() -> None:
    v = version(1, passed=False, at=10)
    assert v.validated_by(check(1, passed=True, at=5)) is v
    assert v.validated_by(check(1, passed=True, at=20)).status == "passed"


def test_a_version_limited_grant_covers_only_that_version() -> None:
    g = grant_request(
        approval_id="a", tenant="acme", grantee="project:p", project="p", action=GrantAction.TRAIN,
        datasets=["d", "e"], purpose="x", requested_by="ana", now=T0, expires_at=T0 + timedelta(days=1),
        versions={"d": 2},
    ).model_copy(update={"state": ApprovalState.APPROVED})  # fmt: skip
    covers = {
        (name, n): g.covers(
            grantees=["project:p"], action=GrantAction.TRAIN, project_id="p", dataset=name, now=T0, version=n
        )
        for name, n in (("d", 2), ("d", 1), ("d", None), ("e", 7), ("e", None))
    }
    assert covers == {("d", 2): True, ("d", 1): False, ("d", None): False, ("e", 7): True, ("e", None): True}
