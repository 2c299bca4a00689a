"""The intent CSV validator: each finding on a file built to have it, and properties over
generated CSVs (hypothesis): a well-formed file passes exactly as the example trainer reads it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk.contracts.validation import MAX_FINDINGS, Severity
from sdk.validation.intent_csv import Limits, validate

ROOT = Path(__file__).resolve().parents[3]
SMALL = Limits(min_per_label=1)


def codes(data: bytes, limits: Limits = SMALL) -> dict[str, set[int | None]]:
    found: dict[str, set[int | None]] = {}
    for f in validate(data, dataset="d", version=1, limits=limits).findings:
        found.setdefault(f.code, set()).add(f.line)
    return found


def test_the_shipped_dataset_passes_without_findings() -> None:
    report = validate((ROOT / "examples/data/intents.csv").read_bytes(), dataset="intents", version=3)
    assert report.passed and report.findings == []
    assert report.checked["rows"] == 392 and report.checked["labels"] == 5
    assert (report.dataset, report.version, report.validator) == ("intents", 3, "intent-csv/1")


@pytest.mark.parametrize(
    ("data", "code", "line"),
    [
        (b"", "empty", None),
        (b"\xff\xfetext,label\n", "not_utf8", None),
        (b"\xef\xbb\xbftext,label\na,x\nb,y\n", "bom", 1),
        (b"text,label\na,x\nb\xe9,y\n", "not_utf8", 3),
        (b"words,label\na,x\n", "missing_column", 1),
        (b"text,label,label\na,x,x\n", "duplicate_column", 1),
        (b"text,label\na,x,extra\nb,y\n", "field_count", 2),
        (b'text,label\n"a,x\n', "malformed_csv", 2),
        (b"text,label\n ,x\nb,y\n", "empty_text", 2),
        (b"text,label\na, \nb,y\n", "empty_label", 2),
        (b"text,label,split\na,x,test\nb,y,train\n", "bad_split", 2),
        (b"text,label\na,x\na,y\n", "conflicting_labels", 3),
        (b"text,label\na,x\nb,x\n", "too_few_labels", None),
    ],
)
def test_each_error_fails_the_dataset(data: bytes, code: str, line: int | None) -> None:
    report = validate(data, dataset="d", version=1, limits=SMALL)
    assert not report.passed
    assert line in codes(data)[code]
    assert all(f.severity is Severity.ERROR for f in report.findings if f.code == code)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"text,label,source\na,x,web\nb,y,mail\n", "extra_column"),
        (b"text,label\na,x\n\nb,y\n", "blank_line"),
        (b"text,label\na,x\na,x\nb,y\n", "duplicate_row"),
        (b"text,label\na,Billing\nb,billing\n", "similar_labels"),
        (b"text,label\n" + b"w" * 2001 + b",x\nb,y\n", "long_text"),
    ],
)
def test_warnings_do_not_fail_it(data: bytes, code: str) -> None:
    report = validate(data, dataset="d", version=1, limits=SMALL)
    assert report.passed, report.findings
    assert code in codes(data)


def test_small_labels_warn_and_size_is_judged_first() -> None:
    assert "small_label" in codes(b"text,label\na,x\nb,y\n", Limits())
    report = validate(b"text,label\na,x\n", dataset="d", version=1, limits=Limits(max_bytes=10), size=10**9)
    assert [f.code for f in report.findings] == ["too_large"] and report.checked["bytes"] == 10**9


def test_findings_are_capped_errors_first_and_counted() -> None:
    rows = b"".join(b",x\n" for _ in range(300)) + b"a,x\n" * 50 + b"b,y\n"
    report = validate(b"text,label\n" + rows, dataset="d", version=1, limits=SMALL)
    assert len(report.findings) == MAX_FINDINGS
    assert all(f.severity is Severity.ERROR for f in report.findings)
    assert report.checked["errors"] == 300 and report.checked["warnings"] == 49


cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=30)
labels = st.sampled_from(["Billing", "Account", "Order Change", "Sales, EU", 'quoted "label"'])


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(cell, labels), min_size=2, max_size=40), crlf=st.booleans())
def test_what_passes_is_what_a_trainer_reads(rows: list[tuple[str, str]], crlf: bool) -> None:
    """Any CSV the csv module writes: if it passes, csv.DictReader gets every row with its text
    and label intact; if it fails, each error names a real problem of those rows."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    report = validate(data, dataset="d", version=1, limits=SMALL)
    errors = {f.code for f in report.findings if f.severity is Severity.ERROR}
    kept = [r for r in rows if r[0].strip()]
    by_text: dict[str, set[str]] = {}
    for text, label in kept:
        by_text.setdefault(text.strip(), set()).add(label)
    expected = set()
    if len(kept) < len(rows):
        expected.add("empty_text")
    if any(len(ls) > 1 for ls in by_text.values()):
        expected.add("conflicting_labels")
    if len({label for _, label in kept}) < 2:
        expected.add("too_few_labels")
    assert errors == expected, report.findings
    if report.passed:
        read = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
        assert [(r["text"], r["label"]) for r in read] == rows


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_and_passing_means_no_error(data: bytes) -> None:
    report = validate(data, dataset="d", version=1)
    assert report.passed == (report.checked["errors"] == 0)
    assert len(report.findings) <= MAX_FINDINGS
