"""Example trainer: the small shape classifier served by `/v2/vision/predict`.

The dataset is generated (sdk.models.vision.shapes: 32x32 greyscale circles, squares,
triangles and crosses over noise) and stored as an .npz of `images` (uint8 [n, 32, 32])
and `targets` (int64 [n]), so it travels through the platform like any customer dataset::

    python examples/vision_trainer.py --make-dataset shapes.npz --n 800   # then upload it

On the platform (the job's environment carries TRAINYARD_JOB_ID, TRAINYARD_TOKEN, ...)::

    python examples/vision_trainer.py --epochs 6 --lr 0.01

it reports running, downloads the project's "shapes" dataset, reports every epoch
(loss, accuracy, val_loss, val_accuracy), uploads a checkpoint when validation accuracy
improves and at the last epoch, and finishes with the best metrics.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sdk.models.vision import SHAPES, VisionClassifier, shapes, vision_checkpoint, vision_config

DATASET = "shapes"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the shape classifier of the vision predictor.")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--make-dataset", type=Path, default=None, help="write a generated dataset here and exit")
    p.add_argument("--n", type=int, default=800, help="with --make-dataset: how many images")
    return p.parse_args(argv)


def make_dataset(path: Path, n: int, *, seed: int) -> None:
    images, targets = shapes(n, seed=seed)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, targets=targets)
    path.write_bytes(buffer.getvalue())


def load_dataset(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    with np.load(path, allow_pickle=False) as data:  # never unpickle a dataset
        images, targets = data["images"], data["targets"]
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) != len(targets):
        raise SystemExit(f"{path}: expected images uint8 [n, h, w] and targets [n]")
    if targets.min() < 0 or targets.max() >= len(SHAPES):
        raise SystemExit(f"{path}: targets must index {list(SHAPES)}")
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(targets.astype(np.int64))


def run_platform(args: argparse.Namespace) -> None:
    from sdk.trainer import Trainer  # only needed on the platform

    trainer = Trainer.from_env()

    def main() -> None:
        x, y = load_dataset(trainer.dataset(DATASET))
        trainer.metadata(learning_rate=args.lr, total_epochs=args.epochs, batch_size=args.batch_size)
        torch.manual_seed(args.seed)
        cut = int(len(x) * 0.8)
        config = vision_config(image_size=x.shape[-1])
        model = VisionClassifier.from_config(config, n_labels=len(SHAPES))
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        out = trainer.workdir / "checkpoints"
        out.mkdir(parents=True, exist_ok=True)
        best: dict[str, float] = {"val_accuracy": -1.0}
        for n in range(1, args.epochs + 1):
            model.train()
            losses = []
            for batch in torch.randperm(cut).split(args.batch_size):  # type: ignore[no-untyped-call]
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                losses.append(float(loss.detach()))
            model.eval()
            with torch.inference_mode():
                train_acc = float((model(x[:cut]).argmax(1) == y[:cut]).float().mean())
                val_logits = model(x[cut:])
                metrics = {
                    "loss": float(np.mean(losses)),
                    "accuracy": train_acc,
                    "val_loss": float(nn.functional.cross_entropy(val_logits, y[cut:])),
                    "val_accuracy": float((val_logits.argmax(1) == y[cut:]).float().mean()),
                }
            trainer.epoch(n, metrics)
            improved = metrics["val_accuracy"] > best["val_accuracy"]
            if improved or n == args.epochs:
                path = out / f"epoch-{n:04d}.ckpt.tar.gz"
                path.write_bytes(vision_checkpoint(model, config=config))
                trainer.checkpoint(n, path, {"val_accuracy": metrics["val_accuracy"], "val_loss": metrics["val_loss"]})
                if improved:
                    best = {**metrics, "best_epoch": float(n)}
        trainer.succeed(best)

    trainer.run(main)


def cli(argv: list[str] | None = None) -> None:
    torch.set_num_threads(1)  # small convolutions only lose time to thread hand-offs
    args = parse_args(argv)
    if args.make_dataset is not None:
        make_dataset(args.make_dataset, args.n, seed=args.seed)
    else:
        run_platform(args)


if __name__ == "__main__":
    cli(sys.argv[1:])
