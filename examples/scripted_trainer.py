"""A torch-free trainer whose behaviour is chosen by flags, for end-to-end tests.

    python examples/scripted_trainer.py --epochs 3 --sleep 0.1   # a clean run
    python examples/scripted_trainer.py --fail-first-attempt     # attempt 1 fails, retries succeed
    python examples/scripted_trainer.py --never-run              # trips the launch limit
    python examples/scripted_trainer.py --stall-after 1          # trips the epoch limit
    python examples/scripted_trainer.py --forever --sleep 0.5    # trips the TTL
    python examples/scripted_trainer.py --crash                  # exits 3 without a word

The platform provides TRAINYARD_JOB_ID, TRAINYARD_TOKEN, TRAINYARD_PLATFORM_URL and
TRAINYARD_ATTEMPT in the environment.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sdk.trainer import Trainer

Sleep = Callable[[float], None]
CRASH_EXIT = 3


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3, help="epochs to report")
    p.add_argument("--sleep", type=float, default=0.1, help="seconds per epoch")
    p.add_argument("--dataset", action="append", default=[], help="download this dataset first (repeatable)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--fail-first-attempt", action="store_true", help="fail when TRAINYARD_ATTEMPT == 1")
    mode.add_argument("--never-run", action="store_true", help="never report running")
    mode.add_argument("--stall-after", type=int, metavar="N", help="go silent after N epochs")
    mode.add_argument("--forever", action="store_true", help="report epochs forever")
    mode.add_argument("--crash", action="store_true", help=f"exit {CRASH_EXIT} without reporting")
    return p.parse_args(argv)


def metrics_at(epoch: int) -> dict[str, float]:
    """A loss that falls and an accuracy that rises with the epoch (1-based)."""
    return {"loss": round(1.0 / (epoch + 1), 6), "accuracy": round(1.0 - 0.5 / epoch, 6)}


def sleep_forever(sleep: Sleep) -> None:
    while True:  # the platform's time limits end this process
        sleep(3600)


def train(trainer: Trainer, args: argparse.Namespace, *, sleep: Sleep) -> None:
    trainer.running()
    sizes = {f"dataset_bytes_{name}": trainer.dataset(name).stat().st_size for name in args.dataset}
    trainer.metadata(learning_rate=0.01, total_epochs=args.epochs, trainer="scripted", **sizes)
    weights = trainer.workdir / "weights.bin"
    last: dict[str, float] = {}
    for epoch in itertools.count(1) if args.forever else range(1, args.epochs + 1):
        if args.stall_after is not None and epoch > args.stall_after:
            sleep_forever(sleep)
        sleep(args.sleep)
        last = metrics_at(epoch)
        print(f"epoch {epoch}: {last}", flush=True)
        trainer.epoch(epoch, last)
        if not args.forever:
            weights.write_bytes(epoch.to_bytes(4, "big") * 256)  # 1 KiB of "weights"
            trainer.checkpoint(epoch, weights, last)
    trainer.succeed(last)


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    make_trainer: Callable[[Mapping[str, str]], Trainer] = Trainer.from_env,
    sleep: Sleep = time.sleep,
) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    if args.crash:
        print("crashing on purpose", file=sys.stderr)
        return CRASH_EXIT
    if args.never_run:
        sleep_forever(sleep)
    trainer = make_trainer(env)
    Path(trainer.workdir).mkdir(parents=True, exist_ok=True)
    if args.fail_first_attempt and env.get("TRAINYARD_ATTEMPT") == "1":
        trainer.running()
        print("attempt 1 fails on purpose", flush=True)
        trainer.fail("failing the first attempt on purpose (--fail-first-attempt)")
        return 1
    train(trainer, args, sleep=sleep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
