"""The UI's only way to the platform: its public REST API, called with the caller's own token.

Pages never touch a store: whatever the token may not see, the API refuses, and the page
shows the refusal as the API words it. In the platform the API is reached in-process over
ASGI (the same app, the same auth and audit path as any HTTP client); elsewhere over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

ClientFactory = Callable[[str], httpx.AsyncClient]  # bearer token -> a client of the API


@dataclass
class ApiError(Exception):
    """A refusal of the API: its status, code, message and field problems, as it said them."""

    status: int
    code: str
    message: str
    problems: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        try:
            data = response.json()
        except ValueError:
            data = {}
        # the platform says {"error": {...}}; the predictor's sidecar {"object": "error", ...}
        err = data.get("error", data) if isinstance(data, dict) else {}
        if not isinstance(err, dict):
            err = {}
        problems = [p for p in err.get("problems") or [] if isinstance(p, dict)]
        message = str(err.get("message") or response.text[:500] or response.reason_phrase)
        return cls(
            response.status_code,
            str(err.get("code") or "error"),
            message,
            [{"field": str(p.get("field", "")), "message": str(p.get("message", ""))} for p in problems],
        )


def asgi_clients(app: Any, *, base_url: str = "http://platform") -> ClientFactory:
    """Clients that call `app` (the platform's ASGI app) in-process."""
    transport = httpx.ASGITransport(app=app)

    def make(token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=transport, base_url=base_url, timeout=30, headers={"authorization": f"Bearer {token}"}
        )

    return make


def http_clients(base_url: str, *, verify: Any = True) -> ClientFactory:
    def make(token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url, timeout=30, verify=verify, headers={"authorization": f"Bearer {token}"}
        )

    return make


class Api:
    """The calls the pages make, each one REST call with the caller's token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._c = client

    async def close(self) -> None:
        await self._c.aclose()

    async def call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = await self._c.request(method, path, json=body, params=clean or None)
        if response.status_code >= 400:
            raise ApiError.of(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def raw(self, path: str, **params: str) -> bytes:
        """A JSON body as the API sent it (passed through to the browser unparsed)."""
        clean = {k: v for k, v in params.items() if v}
        response = await self._c.get(path, params=clean or None)
        if response.status_code >= 400:
            raise ApiError.of(response)
        return response.content

    async def text(self, path: str, **params: Any) -> tuple[str, httpx.Headers]:
        """A text body and its headers (the logs' paging headers)."""
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        response = await self._c.get(path, params=clean or None)
        if response.status_code >= 400:
            raise ApiError.of(response)
        return response.text, response.headers

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.call("POST", path, body=body if body is not None else {})

    async def delete(self, path: str) -> Any:
        return await self.call("DELETE", path)

    async def items(self, path: str, **params: Any) -> list[dict[str, Any]]:
        found = await self.get(path, **params)
        return list(found.get("items", [])) if isinstance(found, dict) else []


def dumps(value: Any) -> str:
    """JSON for a page's <script type=application/json>: no `<`, `>` or `&` that could end the
    element or open markup (JSON.parse reads the escapes back)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
