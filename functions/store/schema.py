"""The tables as plain data, read from the PynamoDB definitions in functions.store.tables.

terraform/ (and its tests) compare against this, so the two cannot drift silently:

    for table in describe(make_tables(prefix="trainyard-", host=None, region="eu-west-1")):
        print(table.name, table.hash_key, [index.name for index in table.indexes])
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import Attribute, TTLAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from functions.store.tables import Tables


@dataclass(frozen=True)
class IndexSchema:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # "ALL", "KEYS_ONLY" or "INCLUDE"


@dataclass(frozen=True)
class TableSchema:
    name: str
    hash_key: str
    range_key: str | None
    key_types: dict[str, str]  # every key attribute of the table and its indexes -> "S" | "N" | "B"
    indexes: tuple[IndexSchema, ...]  # global secondary indexes, by name
    ttl_attribute: str | None
    billing_mode: str


def describe(tables: Tables) -> list[TableSchema]:
    return [describe_model(model) for model in tables.models()]


def describe_model(model: type[Model]) -> TableSchema:
    attributes = model.get_attributes()
    hash_key, range_key = _keys(attributes.values())
    members = inspect.getmembers(model, _is_gsi)
    indexes = sorted((index for _, index in members), key=lambda index: index.Meta.index_name)
    key_types = {a.attr_name: a.attr_type for a in attributes.values() if a.is_hash_key or a.is_range_key}
    schemas = []
    for index in indexes:
        index_attrs = index.Meta.attributes.values()
        key_types.update({a.attr_name: a.attr_type for a in index_attrs})
        index_hash, index_range = _keys(index_attrs)
        schemas.append(
            IndexSchema(
                name=index.Meta.index_name,
                hash_key=index_hash,
                range_key=index_range,
                projection=index.Meta.projection.projection_type,
            )
        )
    ttl = [name for name, attr in attributes.items() if isinstance(attr, TTLAttribute)]
    return TableSchema(
        name=model.Meta.table_name,
        hash_key=hash_key,
        range_key=range_key,
        key_types=dict(sorted(key_types.items())),
        indexes=tuple(schemas),
        ttl_attribute=ttl[0] if ttl else None,
        billing_mode=str(model.Meta.billing_mode),
    )


def _is_gsi(member: object) -> bool:
    return isinstance(member, GlobalSecondaryIndex)


def _keys(attributes: Iterable[Attribute[Any]]) -> tuple[str, str | None]:
    found = list(attributes)
    hash_key = next(a.attr_name for a in found if a.is_hash_key)
    range_key = next((a.attr_name for a in found if a.is_range_key), None)
    return hash_key, range_key
