"""The intent CSV check: what `examples/intent_trainer.py` (and any trainer of the format) needs.

The format: UTF-8 text, a header row naming `text` and `label` (and optionally `split`, with
`train` or `val` in each row), one example per row. What fails the dataset (errors) is what
would make a trainer misread or silently drop data; what only deserves a look is a warning:

    error    not_utf8, bom, too_large, empty, malformed_csv, duplicate_column, missing_column,
             field_count, empty_text, empty_label, bad_split, conflicting_labels, too_few_labels,
             too_many_labels
    warning  extra_column, blank_line, duplicate_row, small_label, similar_labels, long_text

    report = validate(Path("intents.csv").read_bytes(), dataset="intents", version=2)
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sdk.contracts.validation import MAX_FINDINGS, Finding, Severity, ValidationReport

VALIDATOR = "intent-csv/1"
REQUIRED = ("text", "label")
KNOWN = frozenset({"text", "label", "split"})
SPLITS = frozenset({"train", "val"})


@dataclass(frozen=True)
class Limits:
    """What an intent dataset may hold; defaults fit the shipped trainer on one machine."""

    max_bytes: int = 50 * 1024 * 1024  # the trainer reads the whole file into memory
    max_text_chars: int = 2000  # the tokenizer keeps the first max_tokens; longer is suspicious
    min_labels: int = 2  # one label is not a classification
    min_per_label: int = 5  # fewer cannot be split into train and validation meaningfully
    max_labels: int = 1000


@dataclass
class _Findings:
    items: list[Finding] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, code: str, severity: Severity, message: str, line: int | None = None) -> None:
        self.counts[severity.value + "s"] += 1
        self.items.append(Finding(code=code, severity=severity, message=message[:500], line=line))

    def error(self, code: str, message: str, line: int | None = None) -> None:
        self.add(code, Severity.ERROR, message, line)

    def warning(self, code: str, message: str, line: int | None = None) -> None:
        self.add(code, Severity.WARNING, message, line)

    def kept(self) -> list[Finding]:
        """Errors first, then warnings, each in file order; at most MAX_FINDINGS."""
        order = {Severity.ERROR: 0, Severity.WARNING: 1}
        ranked = sorted(self.items, key=lambda f: (order[f.severity], f.line or 0))
        return ranked[:MAX_FINDINGS]


def validate(
    data: bytes, *, dataset: str, version: int, limits: Limits | None = None, size: int | None = None
) -> ValidationReport:
    """Check `data` as an intent CSV; the report passes when no finding is an error. `size`:
    the file's real size when `data` is only its beginning (a file over the limit)."""
    limits = limits or Limits()
    found = _Findings()
    checked: dict[str, int] = {"bytes": len(data) if size is None else size}
    text = _decoded(data, checked["bytes"], limits, found)
    if text is not None:
        checked.update(_check_table(text, limits, found))
    checked["errors"] = found.counts["errors"]
    checked["warnings"] = found.counts["warnings"]
    return ValidationReport(
        dataset=dataset,
        version=version,
        validator=VALIDATOR,
        passed=found.counts["errors"] == 0,
        findings=found.kept(),
        checked=checked,
    )


def _decoded(data: bytes, size: int, limits: Limits, found: _Findings) -> str | None:
    """The file as text, or None (with the error) when it cannot be read as UTF-8 CSV."""
    if max(size, len(data)) > limits.max_bytes:
        found.error("too_large", f"{max(size, len(data))} bytes is over the limit of {limits.max_bytes}")
        return None
    if not data.strip():
        found.error("empty", "the file is empty: no header, no rows")
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        found.error("not_utf8", "the file is UTF-16 (byte-order mark); save it as UTF-8")
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        # csv readers opened as plain UTF-8 see the first column as '\ufefftext', not 'text'
        found.error("bom", "the file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM", 1)
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        found.error("not_utf8", f"invalid UTF-8 at byte {exc.start} ({data[exc.start : exc.start + 1]!r})", line)
        return None


def _check_table(text: str, limits: Limits, found: _Findings) -> dict[str, int]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        found.error("empty", "the file has no header row")
        return {"rows": 0}
    except csv.Error as exc:
        found.error("malformed_csv", f"the header row is not valid CSV: {exc}", 1)
        return {"rows": 0}
    columns = _check_header(header, found)
    if columns is None:
        return {"rows": 0}
    return _check_rows(reader, columns, len(header), limits, found)


def _check_header(header: list[str], found: _Findings) -> dict[str, int] | None:
    names = [h.strip() for h in header]
    for name, n in Counter(names).items():
        if n > 1:
            found.error("duplicate_column", f"column {name!r} appears {n} times in the header", 1)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        found.error("missing_column", f"the header {names} lacks {missing} (needs text,label[,split])", 1)
        return None
    extra = [n for n in names if n not in KNOWN]
    if extra:
        found.warning("extra_column", f"columns {extra} are not read by intent trainers", 1)
    return {name: names.index(name) for name in KNOWN if name in names}


@dataclass
class _Tally:
    rows: int = 0
    blank: int = 0
    duplicates: int = 0
    per_label: Counter[str] = field(default_factory=Counter)
    labels_of: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    first_line: dict[str, int] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)


def _check_rows(
    reader: Iterable[list[str]], columns: dict[str, int], width: int, limits: Limits, found: _Findings
) -> dict[str, int]:
    tally = _Tally()
    rows = iter(reader)
    while True:
        line = getattr(reader, "line_num", 0) + 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            found.error("malformed_csv", f"not valid CSV: {exc}", line)
            break
        line = getattr(reader, "line_num", line)
        _check_row(row, line, columns, width, limits, tally, found)
    _check_labels(tally, limits, found)
    return {
        "rows": tally.rows,
        "labels": len(tally.per_label),
        "blank_lines": tally.blank,
        "duplicate_rows": tally.duplicates,
    }


def _check_row(
    row: list[str],
    line: int,
    columns: dict[str, int],
    width: int,
    limits: Limits,
    tally: _Tally,
    found: _Findings,
) -> None:
    if not row or all(not cell.strip() for cell in row):
        tally.blank += 1
        found.warning("blank_line", "a blank line (readers skip it)", line)
        return
    tally.rows += 1
    if len(row) != width:
        found.error("field_count", f"{len(row)} fields where the header has {width}", line)
        return
    text, label = row[columns["text"]].strip(), row[columns["label"]].strip()
    if not text:
        found.error("empty_text", "the text is empty (a trainer would drop this row)", line)
    if not label:
        found.error("empty_label", "the label is empty (a trainer would drop this row)", line)
    if "split" in columns and row[columns["split"]].strip() not in SPLITS | {""}:
        found.error("bad_split", f"split {row[columns['split']]!r} is not one of {sorted(SPLITS)}", line)
    if len(text) > limits.max_text_chars:
        found.warning("long_text", f"the text has {len(text)} characters (over {limits.max_text_chars})", line)
    if not text or not label:
        return
    if (text, label) in tally.seen:
        tally.duplicates += 1
        found.warning("duplicate_row", f"the same text and label as line {tally.first_line[text]}", line)
    elif tally.labels_of[text]:
        first = tally.first_line[text]
        found.error("conflicting_labels", f"the same text has label {label!r} here and another on line {first}", line)
    tally.seen.add((text, label))
    tally.labels_of[text].add(label)
    tally.first_line.setdefault(text, line)
    tally.per_label[label] += 1


def _check_labels(tally: _Tally, limits: Limits, found: _Findings) -> None:
    labels = tally.per_label
    if len(labels) < limits.min_labels:
        found.error("too_few_labels", f"{len(labels)} label(s) {sorted(labels)}; need {limits.min_labels} or more")
    if len(labels) > limits.max_labels:
        found.error("too_many_labels", f"{len(labels)} labels (over {limits.max_labels})")
    for label, n in sorted(labels.items()):
        if n < limits.min_per_label:
            found.warning("small_label", f"label {label!r} has {n} example(s) (fewer than {limits.min_per_label})")
    by_folded: defaultdict[str, list[str]] = defaultdict(list)
    for label in labels:
        by_folded[" ".join(label.casefold().split())].append(label)
    for variants in by_folded.values():
        if len(variants) > 1:
            found.warning("similar_labels", f"labels {sorted(variants)} differ only in case or spacing")
