"""`make demo`: the whole local platform, walked end to end as a user would.

Starts the platform (durable store + S3, functions, dispatcher, ticker, runner), creates a project,
uploads the intent dataset twice (a broken copy as version 1, the real file as version 2),
validates both versions with one-time validation tasks (v1 fails with findings, v2 passes),
refuses a task that requires validated data on v1, runs two trials of the torch intent classifier with
different hyperparameters plus a trainer that fails its first attempt (to show the
retry), watches them live, prints the comparison and the web UI's link, then stops
everything (`--keep`: stays up until Ctrl-C, to look at the UI). Exits non-zero if
anything did not end as it should.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdk.auth.tls import TLSFiles, client_context
from sdk.client import Client, JobView
from sdk.contracts.errors import ValidationError
from sdk.contracts.specs import ProjectSpec, TaskSpec
from sdk.models.png import encode_gray
from sdk.models.vision import SHAPES, shapes
from sdk.predict import Predictor

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=None if sys.stdout.isatty() else 132)  # CI logs: room for the tables


def say(message: str) -> None:
    console.print(f"[bold cyan]==>[/] {message}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_platform(state: Path, *, tls: Path | None) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    port = free_port()
    log = (state / "platform.log").open("wb")
    cmd = [
        sys.executable,
        "-m",
        "functions.local",
        "--port",
        str(port),
        "--state-dir",
        str(state),
        "--sweep-interval",
        "1",
    ]
    if tls is not None:
        cmd += ["--tls", str(tls)]
    # its own process group: stopping the group stops the predictor processes it started too
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # first start extracts the shared embedding table
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the platform exited early; see {state / 'platform.log'}")
        ready = state / "local.json"  # written last, once the certificates and the predictor are up
        try:
            if ready.exists():
                verify = client_context(TLSFiles.in_dir(tls, "dev@demo")) if tls else True
                if httpx.get(f"{url}/healthz", timeout=1, verify=verify).status_code == 200:
                    return proc, url, json.loads(ready.read_text())
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("the platform did not come up within 180 s")


def trainer(script: str, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "examples" / script), *args]


def trials(project_id: str, c: Client, *, only: tuple[str, ...]) -> dict[str, str]:
    """Create the demo's tasks named in `only`; returns task name -> task id."""
    specs = [
        # The trainer reads lr and epochs from the task (Trainer.hyperparameters): compare shows what ran.
        TaskSpec(
            name="intent-lr-0.05",
            command=trainer("intent_trainer.py"),
            hyperparameters={"lr": 0.05, "epochs": 8},
            datasets=["intents"],
            require_validated=True,  # pins the latest version that passed validation
        ),
        TaskSpec(
            name="intent-lr-0.005",
            command=trainer("intent_trainer.py"),
            hyperparameters={"lr": 0.005, "epochs": 8},
            datasets=["intents"],
            require_validated=True,
        ),
        TaskSpec(
            name="vision-shapes",
            command=trainer("vision_trainer.py", "--epochs", "6"),
            hyperparameters={"lr": 0.01, "epochs": 6},
            datasets=["shapes"],
        ),
        TaskSpec(
            name="flaky-first-attempt",
            command=trainer("scripted_trainer.py", "--epochs", "3", "--sleep", "0.2", "--fail-first-attempt"),
            retry={"max_retries": 2, "backoff_s": 1},
        ),
    ]
    out = {}
    for spec in (s for s in specs if s.name in only):
        created = c.create_task(project_id, spec)
        out[spec.name] = created.task.task_id
        say(f"task [bold]{spec.name}[/] created ({created.task.task_id}), first job {created.job.job_id} QUEUED")
    return out


def latest(c: Client, task_id: str) -> JobView:
    return c.list_jobs(task_id)[-1]


def settled(c: Client, task_id: str) -> bool:
    job = latest(c, task_id)
    if not job.is_terminal:
        return False
    # a failed attempt with retries left is followed by the next one: wait for it
    return job.state in ("SUCCEEDED", "CANCELLED") or job.attempt > 2


def watch(c: Client, tasks: dict[str, str], *, timeout_s: float = 240) -> None:
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bars = {name: progress.add_task(name, total=None, status="QUEUED") for name in tasks}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = True
            for name, task_id in tasks.items():
                job = latest(c, task_id)
                epochs = c.epochs(job.job_id)
                metrics = epochs[-1].metrics if epochs else {}
                shown = " ".join(f"{k}={v:.3f}" for k, v in sorted(metrics.items())[:3])
                progress.update(
                    bars[name],
                    total=job.total_epochs,
                    completed=len(epochs),
                    status=f"attempt {job.attempt} {job.state} {shown}",
                )
                done = done and settled(c, task_id)
            if done:
                return
            time.sleep(0.5)
    raise SystemExit("the demo's jobs did not finish in time")


def _metric(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"  # a metric this trial never reported


def show_comparison(c: Client, project_id: str) -> None:
    cmp = c.comparison(project_id)
    table = Table(title="comparison of trials (best / last)")
    for col in ("task", "hyperparameters", "state", "attempts", *cmp.metrics):
        table.add_column(col)
    for row in cmp.tasks:
        cells = [f"{_metric(row.best.get(m))} / {_metric(row.last.get(m))}" for m in cmp.metrics]
        params = ", ".join(f"{k}={v}" for k, v in row.hyperparameters.items())
        table.add_row(row.name, params, str(row.state), str(row.attempts), *cells)
    console.print(table)


def show_attempts(c: Client, task_id: str) -> list[JobView]:
    jobs = c.list_jobs(task_id)
    table = Table(title="the flaky task's attempts")
    for col in ("job", "attempt", "state", "reason"):
        table.add_column(col)
    for j in jobs:
        table.add_row(j.job_id, str(j.attempt), j.state, j.reason)
    console.print(table)
    return jobs


def publish_and_predict(c: Client, predictor_url: str, token: str, tasks: dict[str, str]) -> bool:
    """Publish the best checkpoint of the better trial and ask the seed's example question."""
    best_task = max(
        ("intent-lr-0.05", "intent-lr-0.005"), key=lambda n: latest(c, tasks[n]).final_metrics.get("val_accuracy", 0.0)
    )
    job = latest(c, tasks[best_task])
    model = c.publish_model(job.job_id, metric="val_accuracy")
    say(
        f"published {best_task} epoch {model.epoch} as model [bold]{model.model_id}[/] "
        f"(sha256 {model.sha256[:12]}…, {model.size_bytes} bytes)"
    )
    document = "my password stopped working"
    say(
        f"curl -X POST {predictor_url}/v2/language/intent -H 'Authorization: Bearer $TOKEN' "
        f'-d \'{{"modelId": "{model.model_id}", "document": "{document}"}}\''
    )
    with Predictor(predictor_url, token) as p:
        prediction = p.intent(model.model_id, document)
    console.print_json(json.dumps(prediction.model_dump(mode="json")))
    return prediction.ranked[0][0] == "Password Help"


def publish_and_predict_vision(c: Client, predictor_url: str, token: str, task_id: str) -> bool:
    """The vision trainer's best checkpoint, asked about a freshly drawn circle."""
    model = c.publish_model(latest(c, task_id).job_id, metric="val_accuracy")
    images, targets = shapes(1, seed=20260)  # an image no trial saw
    say(
        f"published vision-shapes epoch {model.epoch} as model [bold]{model.model_id}[/]; "
        f"POST {predictor_url}/v2/vision/predict with a {SHAPES[int(targets[0])]} (32x32 PNG)"
    )
    with Predictor(predictor_url, token) as p:
        prediction = p.vision(model.model_id, encode_gray(images[0]))
    console.print_json(json.dumps(prediction.model_dump(mode="json")))
    return prediction.ranked[0][0] == SHAPES[int(targets[0])]


def approve_training(c: Client, approver: Client, project_id: str) -> None:
    """Data governance: the data scientist asks, a different person (the approver) decides."""
    grant = c.request_approval(
        ["intents", "shapes"],
        action="train",
        project=project_id,
        purpose="train the support-ticket intent router",
        days=30,
    )
    check = c.request_approval(
        ["intents"], action="validate", project=project_id, purpose="check uploads before training", days=30
    )
    say(
        f"requested a 'train' grant on datasets 'intents', 'shapes' ({grant.approval_id}) and a 'validate' "
        f"grant on 'intents' ({check.approval_id}) for the project"
    )
    for asked in (grant, check):
        decided = approver.approve(asked.approval_id, reason="approved for the intent router pilot")
    say(f"approver@demo approved both: {decided.state} until {decided.expires_at:%Y-%m-%d}")


def broken_copy(data: Path, dest: Path) -> Path:
    """The intent CSV as a careless export would leave it: a row without text, a question
    labelled two ways, a duplicated row."""
    lines = data.read_text(encoding="utf-8").splitlines()  # text,label,split
    first_text = lines[1].split(",")[0]
    lines += [",Order Change,train", f"{first_text},Order Change,train", lines[2]]
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def validate_versions(c: Client, project_id: str, started: dict[int, str]) -> bool:
    """Wait for the validation jobs; show v1's findings and v2's pass; a task that requires
    validated data is refused on v1. Returns whether it all went as it should."""
    deadline = time.monotonic() + 60
    while not all(c.get_job(job_id).is_terminal for job_id in started.values()):
        if time.monotonic() > deadline:
            raise SystemExit("the validation jobs did not finish in time")
        time.sleep(0.3)
    shown = c.dataset(project_id, "intents")
    table = Table(title="dataset 'intents': versions and their validation")
    for col in ("version", "status", "rows", "errors", "warnings", "findings (first 4)"):
        table.add_column(col)
    for v in shown.versions:
        check = v.validation
        counts = check.checked if check else {}
        found = "; ".join(f"{f.code} (line {f.line})" for f in check.findings[:4]) if check else ""
        table.add_row(
            str(v.version), v.status, str(counts.get("rows", "")), str(counts.get("errors", "")),
            str(counts.get("warnings", "")), found,
        )  # fmt: skip
    console.print(table)
    strict = TaskSpec(
        name="strict-on-v1",
        command=trainer("intent_trainer.py"),
        datasets=["intents"],
        dataset_versions={"intents": 1},
        require_validated=True,
    )
    try:
        c.create_task(project_id, strict)
        refused = False
    except ValidationError as exc:
        problem = exc.problems[0]
        say(f"a task requiring validated data on version 1 is refused (400): {problem.field}: {problem.message}")
        refused = True
    return refused and [v.status for v in shown.versions] == ["failed", "passed"]


def run(url: str, config: dict[str, str], *, state: Path, tls: TLSFiles | None) -> int:
    with Client(url, config["token"], tls=tls) as c, Client(url, config["approver_token"], tls=tls) as approver:
        say("creating project [bold]intent-demo[/] with dataset 'intents'")
        project = c.create_project(
            ProjectSpec(name="intent-demo", purpose="route support tickets by intent", datasets=["intents", "shapes"])
        )
        data = ROOT / "examples" / "data" / "intents.csv"
        broken = broken_copy(data, state / "intents-broken.csv")
        for path in (broken, data):
            version, sent = c.upload_dataset_version(project.project_id, "intents", path)
            say(f"uploaded {path.name} ({sent} bytes) through a pre-signed URL as 'intents' version {version}")
        images = state / "shapes.npz"
        subprocess.run(trainer("vision_trainer.py", "--make-dataset", str(images), "--n", "800"), check=True)
        sent = c.upload_dataset(project.project_id, "shapes", images)
        say(f"generated and uploaded the 'shapes' image dataset ({sent} bytes)")
        approve_training(c, approver, project.project_id)
        say("validating both versions of 'intents' (one-time tasks: run once, never retried, no epochs)")
        checks = {n: c.validate_dataset(project.project_id, "intents", version=n).job.job_id for n in (1, 2)}
        tasks = trials(project.project_id, c, only=("vision-shapes", "flaky-first-attempt"))
        ok = validate_versions(c, project.project_id, checks)
        tasks |= trials(project.project_id, c, only=("intent-lr-0.05", "intent-lr-0.005"))
        say("watching the jobs (epochs reported by the trainers through the SDK)")
        watch(c, tasks)
        show_comparison(c, project.project_id)
        attempts = show_attempts(c, tasks["flaky-first-attempt"])
        ok = ok and all(latest(c, t).state == "SUCCEEDED" for t in tasks.values())
        ok = ok and [j.state for j in attempts][:1] == ["FAILED"]
        for name in ("intent-lr-0.05", "intent-lr-0.005", "vision-shapes"):
            job = latest(c, tasks[name])
            ckpts = c.checkpoints(job.job_id)
            say(f"{name}: {len(c.epochs(job.job_id))} epochs, {len(ckpts)} checkpoints, final {job.final_metrics}")
            ok = ok and len(ckpts) > 0
        ok = publish_and_predict(c, config["predictor_url"], config["token"], tasks) and ok
        ok = publish_and_predict_vision(c, config["predictor_url"], config["token"], tasks["vision-shapes"]) and ok
    return 0 if ok else 1


def show_ui(config: dict[str, str], *, keep: bool, proc: subprocess.Popen[bytes]) -> None:
    """The web UI's link (and, with --keep, the platform stays up until Ctrl-C to look at it)."""
    say(f"web UI: [bold]{config['ui_url']}[/]  one-click sign-in as dev@demo: {config['ui_login']}")
    say(f"  as the approver: {config['ui_login_approver']}  as the admin: {config['ui_login_admin']}")
    if not keep:
        say("(run `make demo DEMO_ARGS=--keep` or `examples/demo.py --keep` to keep the platform up and look)")
        return
    say("--keep: the platform stays up with the demo's data; press Ctrl-C to stop it")
    with contextlib.suppress(KeyboardInterrupt):
        proc.wait()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="trainyard-demo-") as tmp:
        state = Path(tmp)
        say("starting the local platform (durable store + S3, functions, dispatcher, ticker, runner, predictor)")
        # --tls: the platform API requires mutual TLS; the demo's user presents dev@demo's certificate
        tls_dir = state / "tls" if "--tls" in sys.argv[1:] else None
        proc, url, config = start_platform(state, tls=tls_dir)
        try:
            tls = TLSFiles.in_dir(tls_dir, "dev@demo") if tls_dir else None  # made by the platform at start
            say(f"platform up at {url} (OpenAPI at {url}/docs), predictor at {config['predictor_url']}")
            code = run(url, config, state=state, tls=tls)
            show_ui(config, keep="--keep" in sys.argv[1:] and code == 0, proc=proc)
        finally:
            say("stopping the platform")
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if code == 0:
            console.print(
                "[bold green]demo finished: intents v1 failed validation and v2 passed, both trials (on v2) "
                "SUCCEEDED, the flaky task succeeded on retry, "
                "the published model answered 'Password Help', the vision model named the shape[/]"
            )
        else:
            console.print("[bold red]demo failed; the platform's last log lines:[/]")
            lines = (state / "platform.log").read_text(errors="replace").splitlines()
            console.print("\n".join(lines[-40:]), markup=False, highlight=False)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
