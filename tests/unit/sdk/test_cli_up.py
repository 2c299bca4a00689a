"""`trainyard up`: the local platform module run in the foreground, its options and exit code, signals passed on."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from sdk.cli.session import CliDeps, run_forwarding_interrupt
from tests.unit.sdk.cli_harness import Harness


def test_up_runs_the_local_platform_module(cli: Harness) -> None:
    result = cli("up", "--port", "9000", "--state-dir", "/tmp/ty", "--no-predictor", "--tls", "/tmp/tls", auth=False)
    assert result.exit_code == 0, result.output
    assert cli.launched == [[
        "/py", "-m", "functions.local", "--port", "9000", "--state-dir", "/tmp/ty", "--tls", "/tmp/tls",
        "--no-predictor",
    ]]  # fmt: skip


def test_up_refuses_an_option_it_does_not_know(cli: Harness) -> None:
    result = cli("up", "--workers", "2", auth=False)
    assert result.exit_code == 2 and "--workers" in result.output
    assert cli.launched == []


def test_up_help_lists_every_option_the_platform_takes(cli: Harness) -> None:
    from functions.local.__main__ import parser

    taken = {opt for action in parser()._actions for opt in action.option_strings if opt.startswith("--")}
    shown = cli("up", "--help", auth=False).output
    assert taken - {"--help"}, "the platform's parser lists its options"
    assert {opt for opt in taken if opt not in shown} == set()
    assert "--config" not in shown  # `up` has no such option: its help must not send people there


def test_up_passes_on_the_platform_exit_code(cli: Harness) -> None:
    cli.deps = CliDeps(launcher=lambda argv: 7, config_path=cli.config_path)
    assert cli("up", auth=False).exit_code == 7
    cli.deps = CliDeps(launcher=lambda argv: -15, config_path=cli.config_path)
    assert cli("up", auth=False).exit_code == 143


def test_the_default_launcher_returns_the_child_exit_code() -> None:
    assert run_forwarding_interrupt([sys.executable, "-c", "raise SystemExit(5)"]) == 5


def test_the_default_launcher_passes_sigterm_on_to_the_platform() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def terminate_us_once_forwarding() -> None:
        deadline = time.monotonic() + 10
        while signal.getsignal(signal.SIGTERM) is before and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_us_once_forwarding, daemon=True).start()
    code = run_forwarding_interrupt([sys.executable, "-c", "import time; time.sleep(30)"])
    assert code == -signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
