"""What the core needs, injected: ports plus the few settings the use cases read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from functions.domain.admission import Capacity, PoolPolicy
from functions.ports import (
    ApprovalStore,
    AuditStore,
    BlobStore,
    Clock,
    DatasetStore,
    EventPublisher,
    JobRuntime,
    JobStore,
    ModelStore,
    Predictor,
    ProjectStore,
    TaskStore,
)
from sdk.auth.tokens import HS256Verifier, JobTokenSigner, SecretJobTokens, TokenVerifier


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


DEFAULT_POOL = PoolPolicy(budget=Capacity(slots=4, cpu_milli=8000, memory_mb=16_384, gpu=0), tenant_cap=4)


@dataclass(frozen=True)
class CoreConfig:
    token_secret: str  # local mode's HS256 secret; "" when `verifier` and `job_signer` are given (production)
    platform_url: str  # what trainers use to reach the platform's events ingress
    pools: dict[str, PoolPolicy] = field(default_factory=lambda: {"default": DEFAULT_POOL})
    source: str = "trainyard/functions"
    url_expiry_s: int = 900
    reconcile_grace_s: float = 30.0  # a launched job may not yet show in the runtime
    exit_grace_s: float = 5.0  # a trainer's final event may still be in flight after exit
    outcome_wait_s: float = 600.0  # an accepted outcome not applied by then was lost by the broker
    admin_tenant: str = "platform"  # admins of this tenant read and revoke across every tenant
    verifier: TokenVerifier | None = None  # checks bearer tokens; None: HS256 with token_secret
    job_signer: JobTokenSigner | None = None  # mints job tokens; None: HS256 with token_secret
    event_key: bytes | None = None  # signs and verifies internal events (functions.eventauth); None: unchecked
    trainer_url_expiry_s: int = 120  # a trainer's pre-signed URLs: short, the SDK asks again for each transfer
    # What a validation task runs (sdk.validation): a command in local mode, an image in a cluster.
    validator_command: tuple[str, ...] = ("python", "-m", "sdk.validation")
    validator_image: str = ""

    def __post_init__(self) -> None:
        if not self.token_secret and (self.verifier is None or self.job_signer is None):
            raise ValueError("without a token secret, CoreConfig needs both a verifier and a job signer")

    def token_verifier(self) -> TokenVerifier:
        return self.verifier or HS256Verifier(self.token_secret)

    def job_tokens(self) -> JobTokenSigner:
        return self.job_signer or SecretJobTokens(self.token_secret)


@dataclass(frozen=True)
class Deps:
    projects: ProjectStore
    tasks: TaskStore
    jobs: JobStore
    models: ModelStore
    approvals: ApprovalStore  # data grants: who may do what on which dataset, until when
    audit: AuditStore  # append-only trail of decisions, data access and state changes
    datasets: BlobStore  # customer data, read by trainers through pre-signed URLs
    artifacts: BlobStore  # checkpoints, processed data, model archives
    logs: BlobStore  # trainer logs stored at cleanup
    runtime: JobRuntime
    events: EventPublisher
    clock: Clock
    config: CoreConfig
    dataset_versions: DatasetStore  # each upload of a dataset name: a numbered version, its last validation
    predictor: Predictor | None = None  # the prediction service, for trying a checkpoint in one call

    def pool(self, name: str) -> PoolPolicy:
        return self.config.pools.get(name) or DEFAULT_POOL
