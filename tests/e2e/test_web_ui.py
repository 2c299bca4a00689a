"""The web UI in a real headless Chromium against the local platform, as a person uses it:
sign in, create a project, upload a dataset, get it approved, run two trials, watch one live,
compare them with curves, read logs, publish the better checkpoint, ask the predictor; and a
second tenant sees none of it."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sdk.auth import tokens
from sdk.auth.tokens import Role
from tests.e2e.conftest import LocalPlatform
from tests.support.browser import chromium, require_chromium, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data" / "intents.csv"


def trainer(lr: str) -> str:
    return f"{sys.executable} {ROOT / 'examples' / 'intent_trainer.py'} --lr {lr} --epochs 8"


def run_task(page: Any, project_url: str, name: str, lr: str) -> str:
    page.goto(project_url)
    form = page.locator("#new-task")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=command]").fill(trainer(lr))
    form.locator("input[name=hyperparameters]").fill(f"lr={lr} epochs=8")
    form.locator("button").click()
    page.wait_for_url(re.compile(r"/ui/jobs/[^/]+$"))
    return page.url.rsplit("/", 1)[-1]


def wait_settled(platform: LocalPlatform, job_ids: list[str], timeout_s: float = 400) -> None:
    """Until each job's task has a SUCCEEDED attempt (a loaded machine may cost an attempt:
    the retry is what a person would see too)."""
    deadline = time.monotonic() + timeout_s
    with platform.client() as c:
        tasks = [c.get_job(j).task_id for j in job_ids]
        while time.monotonic() < deadline:
            latest = [c.list_jobs(t)[-1] for t in tasks]
            if all(j.state == "SUCCEEDED" for j in latest):
                return
            assert not any(j.is_terminal and j.attempt > 2 and j.state != "SUCCEEDED" for j in latest), [
                (j.job_id, j.state, j.reason) for j in latest
            ]
            time.sleep(1)
    raise AssertionError(f"jobs did not finish: {platform.log()[-3000:]}")


def test_a_person_trains_compares_publishes_and_predicts_in_the_browser(local_platform: LocalPlatform) -> None:
    require_chromium()
    config = json.loads((local_platform.state / "local.json").read_text())
    with chromium() as browser:
        me = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = me.new_page()
        page.on("dialog", lambda d: d.accept())
        page.goto(config["ui_login"])  # the one-click link `trainyard up` prints
        page.wait_for_url(re.compile(r"/ui/projects$"))

        # a project, its dataset (through a pre-signed URL), and a train grant an approver gives
        form = page.locator("#new-project")
        form.locator("input[name=name]").fill("browser-intents")
        form.locator("input[name=purpose]").fill("route support tickets by intent")
        form.locator("input[name=datasets]").fill("intents")
        form.locator("button").click()
        page.wait_for_url(re.compile(r"/ui/projects/p-[0-9a-f]+$"))
        project_url, project_id = page.url, page.url.rsplit("/", 1)[-1]
        page.locator("#upload input[type=file]").set_input_files(str(DATA))
        page.locator("#upload button").click()
        page.wait_for_selector("text=Uploaded intents")
        version = page.locator("table.versions[data-dataset=intents] tr[data-version='1']").inner_text()
        assert hashlib.sha256(DATA.read_bytes()).hexdigest()[:12] in version and "not validated" in version
        for action in ("train", "read"):  # train for the trainers; read for the job's logs
            page.locator("#request-grant select[name=action]").select_option(action)
            page.locator("#request-grant button").click()
            page.wait_for_selector(f"#grants tr:has-text('{action}') >> text=requested")

        boss = browser.new_context().new_page()
        boss.goto(config["ui_login_approver"])
        boss.wait_for_url(re.compile(r"/ui/approvals$"))
        for _ in range(2):
            row = boss.locator("#grants tr", has_text=f"project:{project_id}").filter(has_text="requested").first
            row.locator("form:has(button.approve) input[name=reason]").fill("pilot approved")
            row.locator("button.approve").click()
            boss.wait_for_url(re.compile(r"/ui/approvals$"))
        assert boss.locator("#grants tr", has_text=f"project:{project_id}").filter(has_text="approved").count() == 2

        # two trials; the second one watched live, without reloading the page
        first = run_task(page, project_url, "intent-lr-0.05", "0.05")
        second = run_task(page, project_url, "intent-lr-0.005", "0.005")
        origin = page.evaluate("performance.timeOrigin")
        page.wait_for_function("() => Number(document.getElementById('job').dataset.epochs) >= 2", timeout=180_000)
        assert page.evaluate("performance.timeOrigin") == origin  # updated in place by polling
        assert int(page.get_attribute("#job", "data-updates") or 0) > 0
        assert re.search(r"\d+ / 8 epochs", page.inner_text("#progress-text"))
        wait_settled(local_platform, [first, second])

        # compare with curves
        page.goto(f"{project_url}/compare")
        page.wait_for_selector("#compare[data-ready=true]")
        assert page.locator("#rows tbody tr[data-task]").count() == 2
        page.click("#select-top")
        page.wait_for_selector("#curves canvas")
        assert int(page.get_attribute("#curves", "data-series") or 0) >= 4  # train + val (+ best) per task
        page.locator("#rows th[data-key='b:val_accuracy']").click()  # sort: best first
        screenshot(page, "compare.png")
        page.fill("#filter", "lr=0.05")
        assert page.locator("#rows tbody tr[data-task]").count() == 1
        page.fill("#filter", "")
        better = page.locator("#rows tbody tr[data-task]").first
        better_name = better.locator("a").inner_text()
        better.locator("a").click()

        # the better trial's page: curves, checkpoints, logs; publish its best checkpoint
        page.wait_for_url(re.compile(r"/ui/jobs/"))
        job_url = page.url
        page.wait_for_selector("#curves canvas")
        assert better_name in page.inner_text("h1")
        screenshot(page, "job.png")
        page.click("#logs-link")
        page.fill("#log-search input[name=q]", "val_accuracy")
        page.locator("#log-search button").click()
        assert "val_accuracy" in page.inner_text("#log-lines")
        page.goto(job_url)
        page.locator("#checkpoints tr.best button.publish").click()
        page.wait_for_url(re.compile(r"/ui/models\?published="))
        model_id = page.url.rsplit("=", 1)[-1]

        # "try it" asks the predictor as the seed's curl does
        row = page.locator(f"#models tr[data-model='{model_id}']")
        row.locator("input[name=document]").fill("my password stopped working")
        row.locator("button", has_text="Predict").click()
        row.locator(".answer li, .answer .error").first.wait_for(timeout=90_000)
        assert row.locator(".answer .error").count() == 0, row.locator(".answer").inner_text()
        assert row.locator(".answer li .label").first.inner_text() == "Password Help"

        # another tenant sees none of it, and its ids answer the same 404 as made-up ones
        rival = tokens.user_token(
            tenant="rival", sub="eve@rival", secret=local_platform.secret, roles=(Role.DATA_SCIENTIST,)
        )
        eve = browser.new_context().new_page()
        eve.goto(f"{local_platform.url}/ui/login")
        eve.fill("textarea[name=token]", rival)
        eve.locator("form button").click()
        eve.wait_for_url(re.compile(r"/ui/projects$"))
        assert "browser-intents" not in eve.content()
        for path in (
            f"/ui/projects/{project_id}",
            f"/ui/projects/{project_id}/compare",
            f"/ui/jobs/{first}",
            f"/ui/jobs/{first}/logs",
        ):
            assert eve.goto(local_platform.url + path).status == 404, path
            assert "Not found" in eve.inner_text("h1")
        eve.goto(f"{local_platform.url}/ui/models")
        assert model_id not in eve.content()
