"""Mutual TLS from configuration: PEM files named by settings or env, turned into what each
transport wants (an `ssl.SSLContext` for httpx, uvicorn's keyword arguments, gRPC credentials),
and the peer identity a gRPC server reads from a verified client certificate.

Clients (SDK, CLI, sidecar) present `cert`/`key` and trust `ca`; servers present theirs and,
with a `ca`, require a client certificate signed by it. uvicorn does not hand the client
certificate to the app, so an HTTP server enforces mTLS at the handshake (`uvicorn_ssl_options`):
a client without a certificate, or with one from another CA, never reaches a route.

Example::

    files = TLSFiles.from_env(os.environ)                # TRAINYARD_TLS_CERT/KEY/CA, or None
    client = httpx.Client(verify=client_context(files))  # presents cert, trusts only the CA
    uvicorn.run(app, **uvicorn_ssl_options(server_files))

grpc is imported only by the two gRPC helpers: trainers import this module (through
`sdk.http`) and need neither grpc nor its start-up cost.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk.contracts.errors import Problem, ValidationError

if TYPE_CHECKING:
    import grpc

ENV_PREFIX = "TRAINYARD_TLS_"  # TRAINYARD_TLS_CERT, TRAINYARD_TLS_KEY, TRAINYARD_TLS_CA


@dataclass(frozen=True)
class TLSFiles:
    """PEM paths: this side's certificate and key, and the CA that signs the other side's.

    `cert` and `key` go together. A client may give only `ca` (verify a server signed by a
    private CA, present nothing) or only `cert`/`key` (trust the system store); a server
    needs `cert`/`key`, and `ca` turns on client-certificate checking.
    """

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValidationError([Problem("tls", "a certificate and its key are set together (cert and key)")])
        if self.cert is None and self.ca is None:
            raise ValidationError([Problem("tls", "set a certificate and key, a CA, or both")])

    @property
    def mutual(self) -> bool:
        """True when this side both presents a certificate and checks the other's."""
        return self.cert is not None and self.ca is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, prefix: str = ENV_PREFIX) -> TLSFiles | None:
        """{prefix}CERT, {prefix}KEY, {prefix}CA from `environ`; None when none is set.

        Example::

            files = TLSFiles.from_env(os.environ)  # TRAINYARD_TLS_CERT=... TRAINYARD_TLS_KEY=... TRAINYARD_TLS_CA=...
        """
        return cls.of(cert=environ.get(f"{prefix}CERT"), key=environ.get(f"{prefix}KEY"), ca=environ.get(f"{prefix}CA"))

    @classmethod
    def of(cls, *, cert: str | Path | None, key: str | Path | None, ca: str | Path | None) -> TLSFiles | None:
        """From optional paths (settings fields, env values); None when all are unset or empty."""
        paths = [Path(p) if p else None for p in (cert, key, ca)]
        return None if all(p is None for p in paths) else cls(cert=paths[0], key=paths[1], ca=paths[2])

    @classmethod
    def in_dir(cls, directory: Path, name: str) -> TLSFiles:
        """The files `trainyard certs` writes: DIR/NAME.pem, DIR/NAME.key and DIR/ca.pem.

        Example::

            TLSFiles.in_dir(Path(".trainyard/tls"), "platform")
        """
        return cls(cert=directory / f"{name}.pem", key=directory / f"{name}.key", ca=directory / "ca.pem")

    def env(self, *, prefix: str = ENV_PREFIX) -> dict[str, str]:
        """The inverse of `from_env`: variables for a child process (absolute paths)."""
        named = {"CERT": self.cert, "KEY": self.key, "CA": self.ca}
        return {f"{prefix}{k}": str(p.resolve()) for k, p in named.items() if p is not None}

    def read(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(cert, key, ca) bytes; every missing or unreadable file is reported at once."""
        out: list[bytes | None] = []
        problems: list[Problem] = []
        for field, path in (("cert", self.cert), ("key", self.key), ("ca", self.ca)):
            if path is None:
                out.append(None)
                continue
            try:
                out.append(path.read_bytes())
            except OSError as exc:
                problems.append(Problem(f"tls.{field}", f"cannot read {path}: {exc.strerror or exc}"))
                out.append(None)
        if problems:
            raise ValidationError(problems)
        return out[0], out[1], out[2]


def _checked(files: TLSFiles) -> TLSFiles:
    files.read()  # a missing file is a ValidationError naming it, not ssl's bare FileNotFoundError
    return files


def client_context(files: TLSFiles) -> ssl.SSLContext:
    """An httpx `verify=` context: trusts `ca` (else the system store), presents `cert` if set.

    Example::

        httpx.Client(base_url="https://127.0.0.1:8443", verify=client_context(files))
    """
    _checked(files)
    context = ssl.create_default_context(cafile=str(files.ca) if files.ca else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.cert is not None and files.key is not None:
        context.load_cert_chain(certfile=files.cert, keyfile=files.key)
    return context


def server_context(files: TLSFiles) -> ssl.SSLContext:
    """A server-side context (for servers other than uvicorn); with `ca`, client certs are required."""
    if files.cert is None or files.key is None:
        raise ValidationError([Problem("tls", "a server needs a certificate and key")])
    _checked(files)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=files.cert, keyfile=files.key)
    if files.ca is not None:
        context.load_verify_locations(cafile=files.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def uvicorn_ssl_options(files: TLSFiles) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`/`uvicorn.Config`: serve TLS and, with `ca`, refuse
    clients without a certificate signed by it at the handshake.

    Example::

        uvicorn.run(app, host="127.0.0.1", port=8443, **uvicorn_ssl_options(TLSFiles.in_dir(d, "platform")))
    """
    if files.cert is None or files.key is None:
        raise ValidationError([Problem("tls", "a server needs a certificate and key")])
    _checked(files)
    options: dict[str, Any] = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
    if files.ca is not None:
        options.update(ssl_ca_certs=str(files.ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def grpc_server_credentials(files: TLSFiles) -> grpc.ServerCredentials:
    """Server credentials; with `ca` the handshake requires a client certificate signed by it."""
    import grpc  # here, not at the top: see the module docstring

    cert, key, ca = files.read()
    if cert is None or key is None:
        raise ValidationError([Problem("tls", "a server needs a certificate and key")])
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def grpc_channel_credentials(files: TLSFiles) -> grpc.ChannelCredentials:
    """Channel credentials: trust `ca` (else gRPC's default roots), present `cert` if set."""
    import grpc  # here, not at the top: see the module docstring

    cert, key, ca = files.read()
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


@dataclass(frozen=True)
class Peer:
    """Who is on the other end of a verified TLS connection."""

    common_name: str
    sans: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"CN={self.common_name}" + (f" SAN={','.join(self.sans)}" if self.sans else "")


def _texts(values: object) -> list[str]:
    """grpc gives each property as a list of bytes (its type stubs say bytes): accept both."""
    if isinstance(values, bytes | str):
        values = [values]
    items: Iterable[object] = values if isinstance(values, Iterable) else ()
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in items]


def peer_from_auth_context(auth: Mapping[str, object]) -> Peer | None:
    """The client identity of a gRPC call (`context.auth_context()`); None without a verified
    certificate (plaintext, or TLS without client authentication).

    Example::

        peer = peer_from_auth_context(context.auth_context())  # Peer(common_name="sidecar", ...)
    """
    if _texts(auth.get("transport_security_type")) != ["ssl"]:
        return None
    names = _texts(auth.get("x509_common_name"))
    sans = tuple(_texts(auth.get("x509_subject_alternative_name")))
    if not names and not sans:
        return None
    return Peer(common_name=names[0] if names else "", sans=sans)
