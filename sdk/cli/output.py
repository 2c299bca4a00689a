"""Rendering for the CLI: rich tables for people, raw JSON for scripts, one red line for errors.

rich is imported by the functions that draw with it, not by this module: `--json` output
never loads it (~15 % of a read's instructions).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from sdk.contracts.errors import Problem, ValidationError

if TYPE_CHECKING:
    from rich.console import Console

M = TypeVar("M", bound=BaseModel)
Scalar = str | int | float | bool

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON response.")]

STATE_STYLE = {
    "QUEUED": "dim",
    "LAUNCHING": "cyan",
    "RUNNING": "blue",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "CANCELLED": "yellow",
}


def stdout() -> Console:
    from rich.console import Console

    # Built per call so it writes to whatever sys.stdout is now (CliRunner swaps it).
    # emoji=False: a name like "a:x:b" is data, printed as sent (rich would turn ":x:" into an emoji)
    return Console(highlight=False, soft_wrap=False, emoji=False)


def print_error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True, emoji=False).print(
        f"[bold red]error:[/] [red]{escape(message)}[/]"
    )


def print_json(value: BaseModel | Sequence[BaseModel] | Mapping[str, Any]) -> None:
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, Mapping):
        data = dict(value)
    else:
        data = [v.model_dump(mode="json") for v in value]
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def emit(value: M, *, as_json: bool, render: Callable[[M], None]) -> None:
    """Raw JSON for scripts, or the human rendering."""
    if as_json:
        print_json(value)
    else:
        render(value)


def build(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate CLI input into a spec, reporting every problem the way the server would."""
    try:
        return model.model_validate(dict(data))
    except PydanticValidationError as exc:
        problems = [
            Problem(field=".".join(str(x) for x in e["loc"]) or model.__name__, message=e["msg"]) for e in exc.errors()
        ]
        raise ValidationError(problems) from exc


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    from rich.table import Table

    t = Table(title=title, header_style="bold", title_justify="left")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*row)
    stdout().print(t)


def fields(pairs: Sequence[tuple[str, str]]) -> None:
    """A two-column key/value view of one resource."""
    from rich.table import Table

    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for key, value in pairs:
        t.add_row(key, value)
    stdout().print(t)


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def state(value: str | None) -> str:
    if not value:
        return "-"
    return f"[{STATE_STYLE.get(value, 'white')}]{value}[/]"


MISSING = "—"  # a metric (or value) never reported: not "nan", not 0


def number(value: float | None) -> str:
    """A metric for a table: 4 significant digits; `—` when it was never reported (or is not a number)."""
    return MISSING if value is None or math.isnan(value) else f"{value:.4g}"


def metrics(values: Mapping[str, float]) -> str:
    return "  ".join(f"{k}={number(v)}" for k, v in sorted(values.items())) or "-"


def scalars(values: Mapping[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(values.items())) or "-"


def text(value: object) -> str:
    """Escape server-provided text so rich never reads it as markup."""
    from rich.markup import escape

    return escape(str(value))


def parse_param(text: str) -> tuple[str, Scalar]:
    """A `--param KEY=VALUE` (tasks create, rerun), the value typed: int, then float, then
    true/false, else the string itself."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--param")
    value: Scalar
    for cast in (int, float):
        try:
            value = cast(raw)
            return key, value
        except ValueError:
            pass
    if raw.lower() in ("true", "false"):
        return key, raw.lower() == "true"
    return key, raw
