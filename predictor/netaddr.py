"""Which addresses are reachable only from this machine (or pod): the rule behind "plaintext
on loopback or a UNIX socket only, mutual TLS whenever reachable from elsewhere"."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """Whether `host` is reachable only from this machine (or pod): localhost or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_local_target(target: str) -> bool:
    """A gRPC target on this machine only: unix:/path, unix-abstract:, or a loopback host:port."""
    if target.startswith(("unix:", "unix-abstract:")):
        return True
    host = target.rsplit(":", 1)[0] if ":" in target else target
    return is_loopback_host(host.removeprefix("dns:///").removeprefix("ipv4:").removeprefix("ipv6:"))
