"""Example trainer: an intent classifier over the shared MiniLM word embeddings.

On the platform (the job's environment carries TRAINYARD_JOB_ID, TRAINYARD_TOKEN, ...)::

    trainyard tasks create PROJECT --name lr-0.01 --command "python examples/intent_trainer.py" \
        --param lr=0.01 --param epochs=40 --dataset intents

the task's hyperparameters (lr, epochs, hidden, dropout, batch_size, seed; read through
`Trainer.hyperparameters`) set the run, so `trainyard compare` shows what really ran; the
flags of the same names are the defaults for the ones a task leaves out.

it reports running, fetches the project's "intents" dataset (CSV: text,label[,split]),
reports every epoch, uploads a checkpoint whenever validation accuracy improves (and at
the last epoch), and finishes with the best metrics. Standalone, without a platform::

    python examples/intent_trainer.py --local examples/data/intents.csv --out /tmp/intent

writes the same checkpoints under --out (epoch-NNNN.ckpt.tar.gz, best.ckpt.tar.gz) and a
metrics.jsonl. A checkpoint is the tar.gz described in sdk/models/README.md
({model.json: kind, labels, config} + weights.pt = torch.save(state_dict)); the platform
publishes one as a model with sdk.models.archive.archive_from_checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch import nn

from sdk.models import embeddings
from sdk.models.intent import IntentClassifier, featurize, intent_checkpoint, intent_config

if TYPE_CHECKING:
    from sdk.trainer import Hyperparameters

DATASET = "intents"


@dataclass
class Examples:
    texts: list[str]
    targets: list[int]


class Reporter(Protocol):
    def epoch(self, n: int, metrics: dict[str, float]) -> None: ...
    def checkpoint(self, n: int, path: Path, metrics: dict[str, float]) -> None: ...


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train an intent classifier head over shared embeddings.")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--hidden", type=int, default=32, help="hidden units of the MLP head")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--embeddings",
        type=Path,
        default=None,
        help="embedding data dir (default: $TRAINYARD_EMBEDDINGS_DIR or <workdir>/embeddings)",
    )
    p.add_argument("--local", type=Path, default=None, help="train on this CSV without a platform")
    p.add_argument("--out", type=Path, default=None, help="with --local: where checkpoints go")
    args = p.parse_args(argv)
    if (args.local is None) != (args.out is None):
        p.error("--local and --out go together")
    return args


def read_csv(path: Path) -> tuple[list[str], Examples, Examples]:
    """Labels (sorted) and the train/validation split (the `split` column, else every 5th row)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("text") and r.get("label")]
    labels = sorted({r["label"] for r in rows})
    index = {label: i for i, label in enumerate(labels)}
    train, val = Examples([], []), Examples([], [])
    for i, row in enumerate(rows):
        is_val = row["split"] == "val" if row.get("split") else i % 5 == 4
        part = val if is_val else train
        part.texts.append(row["text"])
        part.targets.append(index[row["label"]])
    return labels, train, val


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean()) if len(y) else 0.0


def train(args: argparse.Namespace, csv_path: Path, *, emb_dir: Path, out: Path, report: Reporter) -> dict[str, float]:
    torch.manual_seed(args.seed)
    table = embeddings.ensure(emb_dir)
    labels, train_set, val_set = read_csv(csv_path)
    config = intent_config(table.info, hidden=args.hidden, dropout=args.dropout)
    # The embeddings are frozen, so each document is pooled once, not once per epoch.
    x_train = torch.from_numpy(featurize(table, train_set.texts, config))
    x_val = torch.from_numpy(featurize(table, val_set.texts, config))
    y_train, y_val = torch.tensor(train_set.targets), torch.tensor(val_set.targets)
    model = IntentClassifier.from_config(config, n_labels=len(labels))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    best: dict[str, float] = {"val_accuracy": -1.0}
    for n in range(1, args.epochs + 1):
        model.train()
        losses = []
        for batch in torch.randperm(len(x_train)).split(args.batch_size):  # type: ignore[no-untyped-call]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            losses.append(float(loss.detach()))
        model.eval()
        with torch.inference_mode():
            val_logits = model(x_val)
            metrics = {
                "loss": float(np.mean(losses)),
                "accuracy": accuracy(model(x_train), y_train),
                "val_loss": float(nn.functional.cross_entropy(val_logits, y_val)) if len(y_val) else 0.0,
                "val_accuracy": accuracy(val_logits, y_val),
            }
        report.epoch(n, metrics)
        improved = metrics["val_accuracy"] > best["val_accuracy"]
        if improved or n == args.epochs:
            path = out / f"epoch-{n:04d}.ckpt.tar.gz"
            path.write_bytes(intent_checkpoint(model, labels=labels, config=config))
            report.checkpoint(n, path, {"val_accuracy": metrics["val_accuracy"], "val_loss": metrics["val_loss"]})
            if improved:
                best = {**metrics, "epoch": float(n)}
                shutil.copyfile(path, out / "best.ckpt.tar.gz")
    return best


class LocalReporter:
    """Prints progress and appends every report to <out>/metrics.jsonl."""

    def __init__(self, out: Path) -> None:
        self._log = out / "metrics.jsonl"

    def _write(self, record: dict[str, object]) -> None:
        with self._log.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def epoch(self, n: int, metrics: dict[str, float]) -> None:
        self._write({"epoch": n, **metrics})
        print(f"epoch {n:3d} " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)

    def checkpoint(self, n: int, path: Path, metrics: dict[str, float]) -> None:
        self._write({"checkpoint": n, "path": str(path), **metrics})


def run_local(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    emb_dir = args.embeddings or Path(os.environ.get("TRAINYARD_EMBEDDINGS_DIR", out / "embeddings"))
    started = time.perf_counter()
    best = train(args, args.local, emb_dir=emb_dir, out=out, report=LocalReporter(out))
    print(
        f"best epoch {int(best['epoch'])}: val_accuracy={best['val_accuracy']:.4f} "
        f"({time.perf_counter() - started:.1f}s) -> {out / 'best.ckpt.tar.gz'}"
    )


def with_hyperparameters(args: argparse.Namespace, hp: Hyperparameters) -> argparse.Namespace:
    """The task's hyperparameters (`--param lr=0.05`, what `compare` shows) win over the flags,
    which stay the defaults for anything the task does not set."""
    chosen = {
        "lr": hp.get_float("lr", args.lr),
        "epochs": hp.get_int("epochs", args.epochs),
        "hidden": hp.get_int("hidden", args.hidden),
        "dropout": hp.get_float("dropout", args.dropout),
        "batch_size": hp.get_int("batch_size", args.batch_size),
        "seed": hp.get_int("seed", args.seed),
    }
    unknown = sorted(set(hp) - set(chosen))
    if unknown:
        print(f"ignoring hyperparameters this trainer does not take: {unknown} (it takes {sorted(chosen)})")
    return argparse.Namespace(**{**vars(args), **chosen})


def run_platform(args: argparse.Namespace) -> None:
    from sdk.trainer import Trainer  # only needed on the platform

    trainer = Trainer.from_env()
    args = with_hyperparameters(args, trainer.hyperparameters)

    class Platform:
        def epoch(self, n: int, metrics: dict[str, float]) -> None:
            trainer.epoch(n, metrics)
            # the job's log (`trainyard jobs logs`, the web UI) shows progress as a local run does
            print(f"epoch {n:3d} " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)

        def checkpoint(self, n: int, path: Path, metrics: dict[str, float]) -> None:
            trainer.checkpoint(n, path, metrics)

    def main() -> None:
        csv_path = trainer.dataset(DATASET)
        trainer.metadata(
            learning_rate=args.lr,
            total_epochs=args.epochs,
            hidden=args.hidden,
            batch_size=args.batch_size,
            embeddings=embeddings.TABLE_NAME,
        )
        out = trainer.workdir / "checkpoints"
        out.mkdir(parents=True, exist_ok=True)
        emb_dir = args.embeddings or Path(os.environ.get("TRAINYARD_EMBEDDINGS_DIR", trainer.workdir / "embeddings"))
        best = train(args, csv_path, emb_dir=emb_dir, out=out, report=Platform())
        trainer.succeed({k: v for k, v in best.items() if k != "epoch"} | {"best_epoch": best["epoch"]})

    trainer.run(main)


def cli(argv: list[str] | None = None) -> None:
    torch.set_num_threads(1)  # a tiny head: thread hand-offs cost more than they save
    args = parse_args(argv)
    if args.local is not None:
        run_local(args)
    else:
        run_platform(args)


if __name__ == "__main__":
    cli(sys.argv[1:])
