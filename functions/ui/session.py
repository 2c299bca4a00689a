"""The browser session: the caller's bearer token in an HttpOnly, SameSite=Strict cookie
(never in localStorage, never readable by scripts), and a CSRF token bound to it.

The CSRF token is an HMAC of a fixed label keyed by the session's bearer token: a page of
another origin can neither read the cookie nor compute the token, and it needs no server
state (it survives a restart of the platform). Every POST must carry it (form field
`csrf` or header `X-CSRF-Token`) and, when the browser names one, a same-origin `Origin`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "trainyard_session"
MAX_TOKEN_CHARS = 8192
_CSRF_LABEL = b"trainyard-ui-csrf-v1"


@dataclass(frozen=True)
class Me:
    """Who the token says it is. Read without verifying the signature, ONLY to choose which
    links and buttons to show: the API verifies the token on every call it is used for."""

    sub: str
    tenant: str
    roles: frozenset[str]

    @classmethod
    def of(cls, token: str) -> Me:
        try:
            claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return cls(sub="?", tenant="?", roles=frozenset())
        roles = claims.get("roles") or []
        return cls(
            sub=str(claims.get("sub", "?")),
            tenant=str(claims.get("tenant", "?")),
            roles=frozenset(str(r) for r in roles if isinstance(r, str)),
        )

    @property
    def is_scientist(self) -> bool:
        return "data-scientist" in self.roles

    @property
    def is_approver(self) -> bool:
        return bool({"approver", "admin"} & self.roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()[:40]


def token_of(request: Request) -> str | None:
    token = request.cookies.get(COOKIE)
    return token if token and len(token) <= MAX_TOKEN_CHARS else None


def same_origin(request: Request) -> bool:
    """A POST whose browser names another origin is refused, whatever it carries."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or one that names none (SameSite=Strict still holds)
        return True
    return origin != "null" and origin.split("://", 1)[-1] == request.headers.get("host", "")


async def csrf_ok(request: Request, token: str) -> bool:
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent, csrf_for(token))


def set_session(response: Response, token: str, *, secure: bool, path: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path=path, max_age=12 * 3600)


def clear_session(response: Response, *, path: str) -> None:
    response.delete_cookie(COOKIE, path=path, httponly=True, samesite="strict")
