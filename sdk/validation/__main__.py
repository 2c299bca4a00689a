"""The validation job's entrypoint: `python -m sdk.validation` inside the job's sandbox.

The platform launches it for a validation task, with the dataset and version to check as the
task's hyperparameters (`dataset`, `version`, `format`). Like any trainer it reports running,
fetches the dataset through the URL its grant allows, and finishes with the report (or fails,
never retried, if it cannot read the data at all).
"""

from __future__ import annotations

import sys

from sdk.trainer import Trainer
from sdk.validation import intent_csv

VALIDATORS = {"intent-csv": intent_csv}


def main(trainer: Trainer) -> None:
    params = trainer.hyperparameters
    dataset = params.get_str("dataset")
    version = params.get_int("version")
    kind = params.get_str("format", "intent-csv")
    if kind not in VALIDATORS:
        raise SystemExit(f"unknown dataset format {kind!r}; known: {sorted(VALIDATORS)}")
    limits = intent_csv.Limits()
    path = trainer.dataset(dataset)
    with path.open("rb") as f:  # a file over the limit is judged by its size, never read whole
        data = f.read(limits.max_bytes + 1)
    report = VALIDATORS[kind].validate(data, dataset=dataset, version=version, limits=limits, size=path.stat().st_size)
    print(f"validated {dataset} v{version}: passed={report.passed} checked={report.checked}", file=sys.stderr)
    trainer.succeed({"passed": float(report.passed), "findings": float(len(report.findings))}, report=report)


if __name__ == "__main__":
    job = Trainer.from_env()
    job.run(lambda: main(job))
