"""terraform/iam.tf keeps the audit trail append-only and grants the grants table only where
the code touches it."""

from __future__ import annotations

from tests.unit.deploy.terraform_hcl import load

JOB_WRITERS = {"api", "create", "launch", "report", "cleanup", "sweep"}  # every function that changes a job's state


def test_nobody_may_update_or_delete_audit_records() -> None:
    tf = load()
    assert tf.locals["table_append_actions"] == ["dynamodb:PutItem"]
    for name, grant in tf.locals["functions"].items():
        assert "audit" not in grant["write_tables"], name
    statement = next(
        s
        for s in tf.data[("aws_iam_policy_document", "access")]["dynamic"]
        if s["statement"]["content"][0]["sid"] == "AppendOnlyTables"
    )["statement"]["content"][0]
    assert statement["actions"] == "${local.table_append_actions}"


def test_every_role_explicitly_denies_changing_an_audit_record_but_by_putitem() -> None:
    """An explicit Deny wins over any Allow: no role gets UpdateItem/DeleteItem on the trail,
    whatever its write_tables say or another policy allows."""
    tf = load()
    denied = set(tf.locals["audit_denied_actions"])
    assert {
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PartiQLDelete",
    } <= denied
    assert "dynamodb:PutItem" not in denied
    [deny] = [
        s
        for s in tf.data[("aws_iam_policy_document", "access")]["statement"]
        if s.get("sid") == "AuditTrailIsAppendOnly"
    ]
    assert deny["effect"] == "Deny" and deny["actions"] == "${local.audit_denied_actions}"
    assert deny["resources"][0] == '${local.table_arns["audit"]}'


def test_every_job_writer_appends_to_the_trail_and_only_the_api_reads_it() -> None:
    functions = load().locals["functions"]
    assert {name for name, g in functions.items() if "audit" in g["append_tables"]} == JOB_WRITERS
    assert {name for name, g in functions.items() if "audit" in g["read_tables"]} == {"api"}


def test_grants_are_written_by_the_api_and_the_sweep_and_read_where_jobs_launch() -> None:
    functions = load().locals["functions"]
    assert {name for name, g in functions.items() if "approvals" in g["write_tables"]} == {"api", "sweep"}
    assert {name for name, g in functions.items() if "approvals" in g["read_tables"]} == {"create", "launch", "cleanup"}
