"""terraform/ checked with the real terraform and AWS provider, offline: `fmt -check`, `init
-backend=false -plugin-dir=DIR`, `validate`, then `apply` of the dev configuration against the
moto server, and the stores' contract suites against the tables terraform created.

The apply runs in a moto account of its own (the provider assumes a role in another account,
which moto's STS honours), so the tables other tests create under the same names never meet it.
Skipped, saying why, where terraform or the provider plugins are not installed
(TRAINYARD_TF_PLUGIN_DIR, else the directory under /opt/tf-plugins that holds the AWS provider).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.store.dynamo import DynamoStore
from functions.store.schema import describe
from functions.store.tables import Tables, make_tables
from tests.governance_store_contract import GovernanceStoreContract
from tests.model_store_contract import ModelStoreContract
from tests.store_contract import StoreContract

pytestmark = pytest.mark.integration

TERRAFORM = Path(__file__).resolve().parents[3] / "terraform"
ACCOUNT = "210987654321"  # not moto's default account: see the module docstring
REGION, PREFIX = "eu-west-1", "trainyard-dev-"  # terraform/environments/dev.tfvars
NAMES = [schema.name for schema in describe(make_tables(prefix="", host=None, region=REGION))]


def plugin_dir() -> Path | None:
    given = os.environ.get("TRAINYARD_TF_PLUGIN_DIR")
    if given:
        return Path(given)
    found = sorted(Path("/opt/tf-plugins").glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*"))
    return found[-1].parents[5] if found else None  # DIR/registry.terraform.io/hashicorp/aws/V/OS_ARCH/binary


def requirements() -> str | None:
    if shutil.which("terraform") is None:
        return "terraform is not installed: terraform/ is not validated or applied here"
    if plugin_dir() is None:
        return "no offline AWS provider (set TRAINYARD_TF_PLUGIN_DIR): terraform/ is not validated or applied here"
    return None


skip_reason = requirements()
needs_terraform = pytest.mark.skipif(skip_reason is not None, reason=skip_reason or "")


def terraform(workdir: Path, *args: str, timeout: float = 600) -> str:
    env = {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_CLI_CONFIG_FILE": os.devnull,
        "TF_DATA_DIR": str(workdir / ".terraform"),
        "CHECKPOINT_DISABLE": "1",
    }
    done = subprocess.run(
        ["terraform", f"-chdir={workdir}", *args, "-no-color"], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"terraform {args[0]} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def override(moto: str) -> str:
    services = ("dynamodb", "s3", "iam", "kms", "sts", "ec2", "efs")
    endpoints = "\n".join(f'    {name} = "{moto}"' for name in services)
    return f"""provider "aws" {{
  region                      = var.region
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  assume_role {{
    role_arn = "arn:aws:iam::{ACCOUNT}:role/terraform"
  }}
  endpoints {{
{endpoints}
  }}
}}
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if skip_reason:
        pytest.skip(skip_reason)
    work = tmp_path_factory.mktemp("terraform") / "terraform"
    shutil.copytree(TERRAFORM, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    terraform(work, "init", "-backend=false", f"-plugin-dir={plugin_dir()}")
    return work


@needs_terraform
def test_terraform_is_formatted_and_valid(workdir: Path) -> None:
    terraform(TERRAFORM, "fmt", "-check", "-recursive")
    assert "Success" in terraform(workdir, "validate")


@pytest.fixture(scope="module")
def credentials(moto_endpoint: str) -> dict[str, str]:
    """Credentials of the account terraform applies into (moto's STS switches accounts)."""
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name=REGION)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/tests", RoleSessionName="contract")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


@pytest.fixture(scope="module")
def applied(workdir: Path, moto_endpoint: str) -> Path:
    (workdir / "moto_override.tf").write_text(override(moto_endpoint))
    terraform(workdir, "apply", "-auto-approve", "-var-file=environments/dev.tfvars", timeout=900)
    return workdir


@pytest.fixture
def tables(
    applied: Path, moto_endpoint: str, credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tables]:
    """terraform's tables, emptied before each contract test (they share names across tests)."""
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    made = make_tables(prefix=PREFIX, host=moto_endpoint, region=REGION)
    client = dynamodb(moto_endpoint, credentials)
    for name in NAMES:
        _empty(client, PREFIX + name)
    yield made


def dynamodb(moto: str, credentials: dict[str, str]) -> Any:
    """A client of the terraform account (explicit keys: boto3's default session caches others)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=moto,
        region_name=REGION,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def _empty(client: Any, table: str) -> None:
    keys = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            client.delete_item(TableName=table, Key={k: item[k] for k in keys})


@needs_terraform
def test_terraform_made_every_table_of_the_models_in_its_own_account(
    tables: Tables, moto_endpoint: str, credentials: dict[str, str]
) -> None:
    client = dynamodb(moto_endpoint, credentials)
    names = set(client.list_tables()["TableNames"])
    assert {PREFIX + name for name in NAMES} <= names
    assert client.describe_table(TableName=PREFIX + "jobs")["Table"]["TableArn"].split(":")[4] == ACCOUNT


@needs_terraform
class TestStoreOnTerraformTables(StoreContract):
    @pytest.fixture
    def store(self, tables: Tables) -> DynamoStore:
        return DynamoStore(tables)


@needs_terraform
class TestModelStoreOnTerraformTables(ModelStoreContract):
    @pytest.fixture
    def models(self, tables: Tables) -> DynamoStore:
        return DynamoStore(tables)


@needs_terraform
class TestGovernanceStoreOnTerraformTables(GovernanceStoreContract):
    @pytest.fixture
    def store(self, tables: Tables) -> DynamoStore:
        return DynamoStore(tables)
