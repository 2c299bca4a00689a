"""The trainer environment contract: what the platform sets in a trainer's environment and the SDK reads.

One list for every side that names these variables: the launcher (functions.core.launching), the
Kubernetes Job manifests (which variable travels in the Secret), the local sandbox (the socket it
adds) and the trainer SDK (`sdk.trainer.TrainerEnv`). Renaming one is a breaking change of the
SDK's public contract.
"""

from __future__ import annotations

from enum import StrEnum


class TrainerVar(StrEnum):
    """A variable of a trainer's environment."""

    JOB_ID = "TRAINYARD_JOB_ID"  # the job this attempt is; every event's subject
    TASK_ID = "TRAINYARD_TASK_ID"
    PROJECT_ID = "TRAINYARD_PROJECT_ID"
    ATTEMPT = "TRAINYARD_ATTEMPT"  # 1-based attempt number
    TOKEN = "TRAINYARD_TOKEN"  # the job-scoped bearer token: a secret (a Kubernetes Secret, never a plain env)
    PLATFORM_URL = "TRAINYARD_PLATFORM_URL"  # base URL of the events ingress and data endpoints
    HYPERPARAMETERS = "TRAINYARD_HYPERPARAMETERS"  # JSON object of the task's hyperparameters
    PLATFORM_UDS = "TRAINYARD_PLATFORM_UDS"  # local sandbox: the egress proxy's UNIX socket
    WORKDIR = "TRAINYARD_WORKDIR"  # where the trainer writes (default: the current directory)
    TLS_CERT = "TRAINYARD_TLS_CERT"  # mutual TLS with the platform (local mode, unsandboxed trainers)
    TLS_KEY = "TRAINYARD_TLS_KEY"
    TLS_CA = "TRAINYARD_TLS_CA"


# What travels in the job's Secret rather than in the pod spec's plain env.
SECRET_VARS = frozenset({TrainerVar.TOKEN.value})
