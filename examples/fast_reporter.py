"""A trainer that only reports, as fast as the SDK lets it: `epochs` epochs of `metrics`
metric values each, then success. `--each` waits for every report's answer (one round
trip per report: what a trainer slower than a round trip gets); by default the SDK's
background sender batches whatever queues while a request is in flight."""

from __future__ import annotations

import argparse
import sys

from sdk.trainer import Trainer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--metrics", type=int, default=10)
    p.add_argument("--each", action="store_true", help="flush after every report (no batching)")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    trainer = Trainer.from_env(capture_logs=False)
    trainer.running()
    for n in range(1, a.epochs + 1):
        trainer.epoch(n, {f"m{i}": 1.0 / (n + i) for i in range(a.metrics)})
        if a.each:
            trainer.flush()
    trainer.succeed({"m0": 1.0 / a.epochs})
    trainer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
