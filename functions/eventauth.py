"""Signed internal events: how a function knows an event came from the platform.

Functions act for the tenant an event names (`trainyardtenant`, a payload's `tenant`).
Whoever can deliver an event to a function could otherwise act for any tenant, so every
event the platform publishes (the ingress after it checked the caller's token, the core's
own job.created / job.finished) carries `trainyardsig`: an HMAC-SHA256, under the
platform's event key, of the attributes the functions trust and the data. The broker and
the local dispatcher pass extension attributes through unchanged. A function configured
with the key refuses (401) a tenant-bearing event without a valid signature; the sweep's
ping names no tenant and needs none.

The data is signed in canonical JSON (sorted keys, no spaces), so re-encoding on the way
(a broker parsing and re-serialising the event) does not break the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from sdk.contracts.events import TENANT_EXTENSION

SIGNATURE_EXTENSION = "trainyardsig"
__all__ = ["SIGNATURE_EXTENSION", "TENANT_EXTENSION", "signature", "verify"]
_SIGNED = ("id", "type", "source", "subject", TENANT_EXTENSION)


def signature(key: bytes, attributes: Mapping[str, object], data: object) -> str:
    """The signature of an event with these attributes (id, type, source, subject, tenant) and data."""
    fields = [str(attributes.get(name) or "") for name in _SIGNED]
    body = json.dumps([fields, data], sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def verify(key: bytes, attributes: Mapping[str, object], data: object) -> bool:
    """Does the event carry a valid `trainyardsig` for its attributes and data?"""
    given = attributes.get(SIGNATURE_EXTENSION)
    if not isinstance(given, str):
        return False
    try:
        expected = signature(key, attributes, data)
    except ValueError:  # NaN or infinity: never signed by us
        return False
    return hmac.compare_digest(expected, given)
