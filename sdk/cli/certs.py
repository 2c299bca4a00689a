"""`trainyard certs init|issue`: a local CA and certificates for running with mutual TLS.

    trainyard certs init --out .trainyard/tls
    trainyard certs issue --out .trainyard/tls platform           # client + server usage
    trainyard certs issue --out .trainyard/tls inference --server --san inference.predictor.svc
    trainyard certs issue --out .trainyard/tls dev@demo --client

Files: DIR/ca.pem, DIR/ca.key, DIR/NAME.pem, DIR/NAME.key (keys 0600). The certificate's
CN is NAME: the identity a gRPC server reads and checks against its allowed peers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sdk.cli import output as out

if TYPE_CHECKING:  # cryptography loads only when a certs command runs, not for every `trainyard`
    from sdk.auth import certs

OutOpt = Annotated[Path, typer.Option("--out", help="Directory holding ca.pem/ca.key and the issued files.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace files that already exist.")]


def _describe(pair: certs.KeyPair, cert_path: Path, key_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes

    fingerprint = pair.cert.fingerprint(hashes.SHA256()).hex(":")[:29]
    out.fields([
        ("subject", out.text(pair.cert.subject.rfc4514_string())),
        ("valid until", out.when(pair.cert.not_valid_after_utc)),
        ("sha256", fingerprint + "…"),
        ("certificate", out.text(cert_path)),
        ("key (0600)", out.text(key_path)),
    ])  # fmt: skip


def init(
    out_dir: OutOpt,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Validity of the CA in days.")] = 365,
    name: Annotated[str, typer.Option(help="The CA's common name.")] = "trainyard local CA",
    force: ForceOpt = False,
) -> None:
    """Create a local certificate authority (ca.pem, ca.key) in DIR."""
    from sdk.auth import certs

    ca = certs.new_ca(name, days=days)
    cert_path, key_path = certs.write_pair(out_dir, certs.CA_NAME, ca, overwrite=force)
    _describe(ca, cert_path, key_path)


def issue(
    name: Annotated[str, typer.Argument(help="Service or principal: the certificate's CN and file name.")],
    out_dir: OutOpt,
    san: Annotated[
        list[str] | None,
        typer.Option(
            "--san",
            help="DNS name or IP the certificate is valid for (repeatable; "
            "default 127.0.0.1 and localhost). NAME is added when it is a host name.",
        ),
    ] = None,
    client: Annotated[bool, typer.Option("--client", help="Client usage only (default: client and server).")] = False,
    server: Annotated[bool, typer.Option("--server", help="Server usage only (default: client and server).")] = False,
    days: Annotated[int, typer.Option(min=1, max=825, help="Validity in days (capped by the CA's).")] = 90,
    ca_dir: Annotated[Path | None, typer.Option(help="Where ca.pem/ca.key are (default: --out).")] = None,
    force: ForceOpt = False,
) -> None:
    """Sign a certificate for NAME with the local CA: DIR/NAME.pem and DIR/NAME.key."""
    from sdk.auth import certs

    certs.check_name(name)
    ca = certs.read_pair(ca_dir if ca_dir is not None else out_dir)
    chosen: list[tuple[certs.Usage, bool]] = [("client", client), ("server", server)]
    usages = [usage for usage, on in chosen if on] or ["client", "server"]
    pair = certs.issue(ca, name, sans=certs.sans_for(name, san), usages=usages, days=days)
    cert_path, key_path = certs.write_pair(out_dir, name, pair, overwrite=force)
    _describe(pair, cert_path, key_path)


def certs_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)
    app.command("init")(init)
    app.command("issue")(issue)
    return app
