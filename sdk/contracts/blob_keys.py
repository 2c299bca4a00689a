"""Where things lie in the buckets: the one definition of every object key the platform writes.

    datasets   {tenant}/{project_id}/{name}@v{n}.{nonce}          version n of a project's dataset
               ('@' is not allowed in names: no clash with another name; the nonce: a store
               that was reset never points a new version at an old object)
    datasets   {tenant}/{project_id}/{name}                       a dataset uploaded before versions
    artifacts  {tenant}/{project_id}/{job_id}/...                 what a job's trainer uploads
               (checkpoints/epoch-NNNN/<file>, processed/<file>, ...: the trainer picks the rest)
    artifacts  {tenant}/models/{model_id}.tar.gz                  a published model's archive
    logs       {tenant}/{job_id}/runtime.log                      the runtime's log, kept at cleanup
    logs       {tenant}/{job_id}/live.log                         the runtime's log so far, shipped by the sweep
    logs       {tenant}/{job_id}/reported.log                     the logs a trainer attached to its failure

Every key starts with the tenant, so a bucket policy or a lifecycle rule can be scoped per tenant.
"""

from __future__ import annotations


def dataset(tenant: str, project_id: str, name: str) -> str:
    return f"{tenant}/{project_id}/{name}"


def dataset_version(tenant: str, project_id: str, name: str, version: int, nonce: str) -> str:
    return f"{tenant}/{project_id}/{name}@v{version}.{nonce}"


def artifact_prefix(tenant: str, project_id: str, job_id: str) -> str:
    """The prefix a job's trainer may upload under (and the only one its checkpoints may name)."""
    return f"{tenant}/{project_id}/{job_id}/"


def model_archive(tenant: str, model_id: str) -> str:
    return f"{tenant}/models/{model_id}.tar.gz"


def runtime_log(tenant: str, job_id: str) -> str:
    return f"{tenant}/{job_id}/runtime.log"


def live_log(job_id: str) -> str:
    """A running job's log as the sweep last shipped it. Keyed by job id alone so the sweep can
    ship what the runtime lists without reading a job per entry; only platform functions read
    the logs bucket, and the API checks the job's tenant before it reads this."""
    return f"live/{job_id}.log"


def reported_log(tenant: str, job_id: str) -> str:
    return f"{tenant}/{job_id}/reported.log"
