"""`trainyard models ...`: publish a job's checkpoint, list, show, delete, predict.

trainyard models publish JOB --metric accuracy --mode max --name intents-v1
trainyard models predict MODEL "where is my parcel?"
trainyard models predict MODEL --image cat.png --predictor-url http://127.0.0.1:8081
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from sdk.cli import output as out
from sdk.cli.session import session
from sdk.contracts.errors import Problem, ValidationError

if TYPE_CHECKING:  # types only: `--help` and other commands need not import the client
    from sdk.client import ModelView
    from sdk.predict import Prediction

PredictorUrlOpt = Annotated[
    str | None,
    typer.Option("--predictor-url", envvar="TRAINYARD_PREDICTOR_URL",
                 help='Predictor service URL (default: "predictor_url" of the saved config).'),
]  # fmt: skip


def _model_rows(models: list[ModelView]) -> list[list[str]]:
    return [
        [m.model_id, out.text(m.name), out.text(m.kind), m.job_id, str(m.epoch), out.metrics(m.metrics),
         "yes" if m.active else "no", out.when(m.created_at)]
        for m in models
    ]  # fmt: skip


def _show_model(m: ModelView) -> None:
    out.fields([
        ("model", m.model_id), ("name", out.text(m.name)), ("kind", out.text(m.kind)),
        ("labels", out.text(", ".join(m.labels) or "-")), ("project", m.project_id), ("task", m.task_id),
        ("job", m.job_id), ("epoch", str(m.epoch)), ("metrics", out.metrics(m.metrics)),
        ("size", f"{m.size_bytes} bytes"), ("sha256", m.sha256 or "-"), ("active", "yes" if m.active else "no"),
        ("created", out.when(m.created_at)),
    ])  # fmt: skip


def _published(m: ModelView) -> None:
    out.stdout().print(
        f"model {m.model_id} ({out.text(m.name)}) from job {m.job_id} epoch {m.epoch}: {out.metrics(m.metrics)}"
    )


def _show_prediction(model_id: str, prediction: Prediction) -> None:
    rows = [[out.text(label), f"{probability:.4f}"] for label, probability in prediction.ranked]
    out.table(f"prediction of {model_id}", ["label", "probability"], rows)


def _one_input(document: str | None, image: Path | None) -> None:
    if (document is None) == (image is None):
        message = "give either a document or --image FILE, not both" if image else "give a document or --image FILE"
        raise ValidationError([Problem(field="document", message=message)])


def models_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)

    @app.command("publish")
    def publish(
        ctx: typer.Context,
        job: str,
        epoch: Annotated[int | None, typer.Option(min=0, help="Publish this epoch's checkpoint.")] = None,
        metric: Annotated[str | None, typer.Option(help="Publish the checkpoint best by this metric.")] = None,
        mode: Annotated[
            Literal["max", "min"] | None, typer.Option(help="Whether higher or lower --metric is better.")
        ] = None,
        name: Annotated[str | None, typer.Option(help="Model name (default JOB@EPOCH).")] = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """Publish a job's checkpoint as a model (default: its latest checkpoint)."""
        m = session(ctx).client().publish_model(job, epoch=epoch, metric=metric, mode=mode, name=name)
        out.emit(m, as_json=json_, render=_published)

    @app.command("list")
    def list_(ctx: typer.Context, json_: out.JsonOpt = False) -> None:
        """List your published models."""
        models = session(ctx).client().list_models()
        if json_:
            out.print_json(models)
            return
        cols = ["id", "name", "kind", "job", "epoch", "metrics", "active", "created"]
        out.table("models", cols, _model_rows(models))

    @app.command("show")
    def show(ctx: typer.Context, model: str, json_: out.JsonOpt = False) -> None:
        """Show one model."""
        out.emit(session(ctx).client().get_model(model), as_json=json_, render=_show_model)

    @app.command("delete")
    def delete(ctx: typer.Context, model: str, json_: out.JsonOpt = False) -> None:
        """Deactivate a model (predictions stop; its record and archive stay)."""
        m = session(ctx).client().delete_model(model)
        out.emit(m, as_json=json_, render=lambda m: out.stdout().print(f"model {m.model_id} deactivated"))

    @app.command("predict")
    def predict(
        ctx: typer.Context,
        model: str,
        document: Annotated[str | None, typer.Argument(help="Text to classify (intent models).")] = None,
        image: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, readable=True, help="Image file (vision models).")
        ] = None,
        predictor_url: PredictorUrlOpt = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """Ask the predictor for a model's labels, highest probability first."""
        _one_input(document, image)
        predictor = session(ctx).predictor(predictor_url)
        if image is not None:
            prediction = predictor.vision(model, image.read_bytes())
        else:
            assert document is not None
            prediction = predictor.intent(model, document)
        out.emit(prediction, as_json=json_, render=lambda p: _show_prediction(model, p))

    @app.command("try")
    def try_(
        ctx: typer.Context,
        job: str,
        document: Annotated[str | None, typer.Argument(help="Text to classify (intent models).")] = None,
        epoch: Annotated[int | None, typer.Option(min=0, help="This epoch's checkpoint (default: latest).")] = None,
        metric: Annotated[str | None, typer.Option(help="The checkpoint best by this metric.")] = None,
        image: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, readable=True, help="Image file (vision models).")
        ] = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """Predict with any checkpoint of a job in one step: the platform publishes it on demand
        and asks the predictor (POST /v1/jobs/JOB/checkpoints/EPOCH/predict); the same checkpoint
        is always the same model, so trying it again costs nothing more. Without --epoch, the
        latest checkpoint (or the best by --metric) is chosen, as `models publish` chooses."""
        from sdk.predict import Prediction  # only here: other commands need not import it

        _one_input(document, image)
        client = session(ctx).client()
        if epoch is None:
            epoch = client.publish_model(job, metric=metric).epoch
        tried = client.try_checkpoint(job, epoch, document=document, image=image.read_bytes() if image else None)
        prediction = Prediction.model_validate(tried.prediction)
        out.emit(prediction, as_json=json_, render=lambda p: _show_prediction(tried.model.model_id, p))

    return app
