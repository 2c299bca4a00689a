"""terraform/ against the code: the DynamoDB tables are the PynamoDB tables (keys, attribute
types, GSIs, TTL), bucket and table names match what the functions are configured with, and
every IAM role is the least a function needs."""

from __future__ import annotations

from typing import Any

import pytest

from functions.deploy import tables_tf
from functions.store.schema import TableSchema, describe
from functions.store.tables import make_tables
from tests.unit.deploy.knative_objects import OVERLAYS, base_objects, by_kind, rendered
from tests.unit.deploy.terraform_hcl import TERRAFORM, load, tfvars

MODELS = {t.name: t for t in describe(make_tables(prefix="", host=None, region="eu-west-1"))}
BUCKETS = {"datasets", "artifacts", "logs"}
FUNCTIONS = {"api", "create", "launch", "report", "cleanup", "sweep"}
NO_AWS = {"trainyard-dead-letter", "trainyard-predictor", "trainyard-trainer"}  # only logs; pre-signed URLs; trainers


def tables() -> dict[str, dict[str, Any]]:
    return {name: body for (kind, name), body in load().resources.items() if kind == "aws_dynamodb_table"}


def test_terraform_has_exactly_the_pynamodb_tables() -> None:
    assert set(tables()) == set(MODELS)
    assert (TERRAFORM / "dynamodb.tf").read_text() == tables_tf.render(tables_tf.schemas()), "run `make manifests`"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_table_has_the_models_keys_attributes_indexes_and_ttl(name: str) -> None:
    model: TableSchema = MODELS[name]
    table = tables()[name]
    assert table["name"] == "${local.table_prefix}" + name
    assert table["hash_key"] == model.hash_key
    assert table.get("range_key") == model.range_key
    assert {a["name"]: a["type"] for a in table["attribute"]} == model.key_types
    indexes = {
        i["name"]: (i["hash_key"], i.get("range_key"), i["projection_type"])
        for i in table.get("global_secondary_index", [])
    }
    assert indexes == {i.name: (i.hash_key, i.range_key, i.projection) for i in model.indexes}
    ttl = table.get("ttl", [{}])[0]
    assert (ttl.get("attribute_name") if ttl.get("enabled") else None) == model.ttl_attribute
    assert table["billing_mode"] == "PAY_PER_REQUEST" == model.billing_mode
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["server_side_encryption"] == [{"enabled": True, "kms_key_arn": "${aws_kms_key.data.arn}"}]


def test_buckets_are_private_versioned_encrypted_and_only_logs_expire() -> None:
    tf = load()
    assert set(tf.modules) == set(tf.locals["bucket_arns"]) == BUCKETS
    for name, call in tf.modules.items():
        assert call["source"] == "./modules/private-bucket"
        assert call["name"] == "${local.name}-" + name
        assert call["kms_key_arn"] == "${aws_kms_key.data.arn}"
        assert call.get("expire_after_days") == ("${var.log_retention_days}" if name == "logs" else None)
    bucket = load(TERRAFORM / "modules" / "private-bucket")
    block = bucket.resources[("aws_s3_bucket_public_access_block", "this")]
    assert all(
        block[key] is True
        for key in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    versioning = bucket.resources[("aws_s3_bucket_versioning", "this")]
    assert versioning["versioning_configuration"] == [{"status": "Enabled"}]
    sse = bucket.resources[("aws_s3_bucket_server_side_encryption_configuration", "this")]["rule"][0]
    assert sse["apply_server_side_encryption_by_default"] == [
        {"sse_algorithm": "aws:kms", "kms_master_key_id": "${var.kms_key_arn}"}
    ]
    (rule,) = bucket.resources[("aws_s3_bucket_lifecycle_configuration", "this")]["rule"]
    assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]
    expiration = next(d["expiration"] for d in rule["dynamic"] if "expiration" in d)
    assert expiration["for_each"] == "${var.expire_after_days == null ? [] : [var.expire_after_days]}"
    assert bucket.variables["expire_after_days"]["default"] is None  # kept unless the caller says
    (tls,) = bucket.data[("aws_iam_policy_document", "tls_only")]["statement"]
    assert tls["effect"] == "Deny" and tls["condition"][0]["variable"] == "aws:SecureTransport"


@pytest.mark.parametrize("env", OVERLAYS)
def test_the_overlay_is_configured_with_terraforms_names_and_region(env: str) -> None:
    tf, variables = load(), tfvars(env)
    assert tf.locals["name"] == "trainyard-${var.environment}" and tf.locals["table_prefix"] == "${local.name}-"
    prefix = f"trainyard-{variables['environment']}"
    config = by_kind(rendered(f"overlays/{env}"), "ConfigMap")["trainyard-config"]["data"]
    assert variables["environment"] == env
    assert config["TRAINYARD_TABLE_PREFIX"] == f"{prefix}-"
    assert {config[f"TRAINYARD_{b.upper()}_BUCKET"] for b in BUCKETS} == {f"{prefix}-{b}" for b in BUCKETS}
    assert config["TRAINYARD_REGION"] == variables["region"]


def test_one_role_per_service_account_trusting_only_it() -> None:
    tf = load()
    functions = tf.locals["functions"]
    accounts = set(by_kind(base_objects(), "ServiceAccount")) - NO_AWS
    assert {f"trainyard-{name}" for name in functions} == accounts and set(functions) == FUNCTIONS
    (statement,) = tf.data[("aws_iam_policy_document", "trust")]["statement"]
    subjects = {c["variable"]: c["values"] for c in statement["condition"]}
    service_account = "system:serviceaccount:${var.platform_namespace}:trainyard-${each.key}"
    assert subjects == {
        "${var.eks_oidc_issuer}:sub": [service_account],
        "${var.eks_oidc_issuer}:aud": ["sts.amazonaws.com"],
    }
    assert tf.variables["platform_namespace"]["default"] == "trainyard"  # never the trainers' namespace
    assert tf.resources[("aws_iam_role", "function")]["name"] == "${local.name}-${each.key}"


@pytest.mark.parametrize("env", OVERLAYS)
def test_service_accounts_carry_terraforms_role_names(env: str) -> None:
    accounts = by_kind(rendered(f"overlays/{env}"), "ServiceAccount")
    for name in NO_AWS:
        del accounts[name]
    for name, account in accounts.items():
        arn = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert arn.rsplit("/", 1)[1] == f"trainyard-{env}-{name.removeprefix('trainyard-')}"


def test_grants_name_real_tables_and_buckets_and_the_predictor_has_no_role() -> None:
    tf = load()
    for name, grant in tf.locals["functions"].items():
        assert set(grant["write_tables"]) | set(grant["read_tables"]) <= set(MODELS), name
        assert set(grant["write_buckets"]) | set(grant["read_buckets"]) <= BUCKETS, name
        assert not set(grant["write_tables"]) & set(grant["read_tables"]), name
    assert "predictor" not in tf.locals["functions"]  # it reads models through pre-signed URLs only
    assert set(tf.locals["table_arns"]) == set(MODELS)


def test_no_role_may_delete_items_or_write_in_batches() -> None:
    tf = load()
    actions = {*tf.locals["table_write_actions"], *tf.locals["table_append_actions"]}
    assert actions == {"dynamodb:PutItem", "dynamodb:UpdateItem"}  # functions/store uses nothing else


def test_no_policy_can_scan_or_use_wildcards() -> None:
    tf = load()
    actions = [
        *tf.locals["table_read_actions"],
        *tf.locals["table_write_actions"],
        *tf.locals["bucket_read_actions"],
        *tf.locals["bucket_write_actions"],
    ]
    assert "dynamodb:Scan" not in actions
    assert not [a for a in actions if "*" in a]
    assert all(a.startswith("dynamodb:") for a in tf.locals["table_read_actions"] + tf.locals["table_write_actions"])
    assert set(tf.locals["bucket_read_actions"]) == {"s3:GetObject"}
