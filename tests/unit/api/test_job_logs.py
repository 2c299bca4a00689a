"""A job's logs are never silently truncated: kept whole at cleanup, paged by the API, and
the default view (the end) says what came before and how to get it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from functions.core import launching, reporting, sweeping
from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts import events as ev
from tests.support.harness import SECRET, Harness

MIB = 1024 * 1024
LINE = b"epoch 0001 loss 0.123456789 accuracy 0.987654321 (a line of a chatty trainer) ....\n"  # 82 bytes
LOG = LINE * (3 * MIB // len(LINE) + 1)  # a little over 3 MiB


def _chatty_job(h: Harness, *, finish: bool) -> str:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    h.runtime.write_log(job.job_id, LOG)
    if finish:
        reporting.report(
            h.deps, tenant="acme", job_id=job.job_id, event_type="x", event_id="run", payload=ev.JobRunning()
        )
        reporting.report(
            h.deps,
            tenant="acme",
            job_id=job.job_id,
            event_type="x",
            event_id="bad",
            payload=ev.JobFailed(reason="diverged", logs="nan at step 7"),
        )
        h.finish_events()  # cleanup keeps the log in the logs bucket and deletes the runtime's copy
        assert job.job_id in h.runtime.deleted
    return job.job_id


@pytest.mark.parametrize("finish", [False, True], ids=["live", "kept at cleanup"])
def test_the_default_view_is_the_end_and_says_how_to_get_the_rest(h: Harness, client: TestClient, finish: bool) -> None:
    job_id = _chatty_job(h, finish=finish)

    r = client.get(f"/v1/jobs/{job_id}/logs")

    assert r.status_code == 200
    first, rest = r.text.split("\n", 1)
    assert first == (
        f"[trainyard: the log has {len(LOG)} bytes; this is the last {MIB}. The rest: "
        f"GET /v1/jobs/{job_id}/logs?offset=0&limit={MIB} and on, "
        f"or `trainyard jobs logs {job_id} --all`]"
    )
    assert rest.startswith(LOG[-MIB:].decode())
    assert (r.headers["x-log-offset"], r.headers["x-log-size"]) == (str(len(LOG) - MIB), str(len(LOG)))
    assert "x-log-next-offset" not in r.headers
    assert r.text.endswith("nan at step 7") == finish  # the failure report's logs close the last page


def test_paging_from_the_start_returns_every_byte_once(h: Harness, client: TestClient) -> None:
    job_id = _chatty_job(h, finish=True)

    pages, offset = [], "0"
    while offset:
        r = client.get(f"/v1/jobs/{job_id}/logs", params={"offset": offset, "limit": MIB})
        assert r.status_code == 200 and not r.text.startswith("[trainyard:")
        pages.append(r.text)
        offset = r.headers.get("x-log-next-offset", "")

    assert len(pages) == 4
    whole = "".join(pages)
    assert (
        whole.startswith(LOG.decode())
        and whole[len(LOG) :] == "\n--- logs attached to the failure report ---\nnan at step 7"
    )


def test_a_short_log_has_no_marker(h: Harness, client: TestClient) -> None:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    h.runtime.write_log(job.job_id, b"hello\n")

    r = client.get(f"/v1/jobs/{job.job_id}/logs")

    assert r.text == "hello\n" and r.headers["x-log-size"] == "6"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": str(9 * MIB)}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
    ],
)
def test_a_bad_range_is_a_400_naming_the_field(
    h: Harness, client: TestClient, params: dict[str, str], field: str
) -> None:
    _, job = h.task(h.project())

    r = client.get(f"/v1/jobs/{job.job_id}/logs", params=params)

    assert r.status_code == 400, r.text
    assert field in {p["field"].rsplit(".", 1)[-1] for p in r.json()["error"]["problems"]}


def test_another_tenants_job_logs_are_not_found(h: Harness, client: TestClient) -> None:
    job_id = _chatty_job(h, finish=False)
    evil = tokens.user_token(tenant="evil", sub="eve@evil", secret=SECRET, roles=(Role.DATA_SCIENTIST,))

    r = client.get(f"/v1/jobs/{job_id}/logs", params={"offset": "0"}, headers={"Authorization": f"Bearer {evil}"})

    assert r.status_code == 404 and "loss" not in r.text


def test_the_sweep_reads_only_the_end_of_a_huge_log(h: Harness) -> None:
    job_id = _chatty_job(h, finish=False)
    h.runtime.exit(job_id, 1)
    h.clock.advance(3)

    sweeping.sweep(h.deps)

    assert len(h.store.get_job("acme", job_id).reason) < 1000
