"""Who may ask the predictor, and where it may listen: the caller checks cached per token (on a
fake clock) and the rule "plaintext only on loopback or a UNIX socket"."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError as SettingsError

from predictor.inference.settings import InferenceSettings
from predictor.netaddr import is_local_target, is_loopback_host
from predictor.sidecar.auth import Authenticator, TokenDecisions
from predictor.sidecar.settings import SidecarSettings
from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts.errors import Forbidden, Unauthenticated

SECRET = "unit-test-secret-0123456789abcdefghij"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token(*, roles: tuple[Role, ...] = (Role.DATA_SCIENTIST,), job: str | None = None, exp: int = 1_000_600) -> str:
    return tokens.issue(tokens.Claims(sub="s", tenant="acme", roles=roles, job=job, exp=exp), secret=SECRET)


@pytest.mark.parametrize(
    ("roles", "job", "why"),
    [
        ((Role.JOB,), "j-1", "job token"),
        ((Role.DATA_SCIENTIST,), "j-1", "job token"),
        ((Role.APPROVER, Role.ADMIN), None, "admin, approver may not ask for predictions"),
        ((), None, "no role may not"),
    ],
)
def test_tokens_that_may_not_predict_are_refused_every_time(roles: tuple[Role, ...], job: str | None, why: str) -> None:
    auth = Authenticator(SECRET, clock=Clock())
    for _ in range(2):  # the second answer comes from the cache, and is the same refusal
        with pytest.raises(Forbidden, match=why):
            auth.authenticate(f"Bearer {token(roles=roles, job=job)}")


@pytest.mark.parametrize("roles", [(Role.DATA_SCIENTIST,), (Role.SERVICE,), (Role.APPROVER, Role.DATA_SCIENTIST)])
def test_data_scientists_and_services_may_predict(roles: tuple[Role, ...]) -> None:
    assert Authenticator(SECRET, clock=Clock()).authenticate(f"Bearer {token(roles=roles)}").tenant == "acme"


def test_a_cached_token_still_expires() -> None:
    clock = Clock()
    auth = Authenticator(SECRET, clock=clock)
    bearer = f"Bearer {token(exp=int(clock.now) + 10)}"
    auth.authenticate(bearer)
    clock.now += 11
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate(bearer)


def test_decisions_are_per_token_and_expire() -> None:
    clock = Clock()
    decisions = TokenDecisions(ttl_s=30, negative_ttl_s=2, max_entries=10, clock=clock)
    assert decisions.accepted("a") is False  # never judged: ask the platform
    decisions.accept("a", token_ttl_s=3600)
    decisions.refuse("b", Forbidden("refused by the platform"), token_ttl_s=3600)
    assert decisions.accepted("a") is True
    with pytest.raises(Forbidden, match="refused by the platform"):
        decisions.accepted("b")
    clock.now += 2
    assert decisions.accepted("b") is False  # refusals are remembered briefly: ask again
    clock.now += 28
    assert decisions.accepted("a") is False  # acceptances for ttl_s: the platform is asked again


def test_a_decision_never_outlives_its_token() -> None:
    clock = Clock()
    decisions = TokenDecisions(ttl_s=30, negative_ttl_s=2, max_entries=10, clock=clock)
    decisions.accept("a", token_ttl_s=5)
    clock.now += 5
    assert decisions.accepted("a") is False


def test_decisions_are_bounded() -> None:
    decisions = TokenDecisions(ttl_s=30, negative_ttl_s=2, max_entries=3, clock=Clock())
    for t in "abcd":
        decisions.accept(t, token_ttl_s=60)
    assert len(decisions) == 3 and decisions.accepted("a") is False  # the one expiring first went first


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("::", False),
        ("inference.svc", False),
    ],
)
def test_loopback_hosts(host: str, local: bool) -> None:
    assert is_loopback_host(host) is local


@pytest.mark.parametrize(
    ("target", "local"),
    [
        ("unix:/run/x.sock", True),
        ("127.0.0.1:50051", True),
        ("localhost:1", True),
        ("[::1]:50051", True),
        ("10.1.2.3:50051", False),
        ("inference:50051", False),
        ("dns:///inference:50051", False),
    ],
)
def test_local_targets(target: str, local: bool) -> None:
    assert is_local_target(target) is local


def test_inference_refuses_plaintext_where_others_can_reach_it(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "10.0.0.5", "::"):
        with pytest.raises(SettingsError, match="mutual TLS"):
            InferenceSettings(host=host)
    assert InferenceSettings(host="0.0.0.0", socket=tmp_path / "i.sock").address() == f"unix:{tmp_path}/i.sock"
    assert InferenceSettings().address() == "127.0.0.1:50051"


def test_inference_may_listen_anywhere_with_mutual_tls(tmp_path: Path) -> None:
    for name in ("cert", "key", "ca"):
        (tmp_path / name).write_text("-")
    settings = InferenceSettings(
        host="0.0.0.0", tls_cert=tmp_path / "cert", tls_key=tmp_path / "key", tls_ca=tmp_path / "ca"
    )
    assert settings.tls() is not None


def test_the_sidecar_refuses_a_plaintext_inference_target_across_the_network() -> None:
    with pytest.raises(SettingsError, match="mutual TLS"):
        SidecarSettings(token_secret=SECRET, inference_target="10.0.0.5:50051")
    assert SidecarSettings(token_secret=SECRET, inference_target="unix:/run/i.sock").inference_target
