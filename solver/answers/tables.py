"""Table answers: many rows of named cells, checked at once, row by row.

A student's table is CSV (a header row naming the columns) or JSON (a list of
objects, or {"rows": [...]}). A `layer` column numbers the rows; without it
they are taken in order. Each cell is read by its column's answer type with
the same grammar as a single answer. A row is judged from the student's own
row before it where the table knows how (`carry`), so one early error is
counted once, not in every later row. A missing row or a blank cell is wrong.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import Callable

from ..core.errors import InvalidAnswer
from ..core.model import Table
from .literals import MAX_TEXT

ROW_KEYS = ("layer", "row")
MAX_ROWS = 5000
MISSING_NAMED = 6          # rows with blank cells the feedback names


@dataclass
class RowResult:
    label: str
    score: float             # the share of the row's cells answered right
    wrong: list[str]         # columns answered wrong
    missing: list[str]       # columns not answered (blank, or the row left out): wrong too
    carried: bool            # judged from the student's previous row, which was wrong

    def as_json(self) -> dict:
        return {"row": self.label, "score": self.score, "wrong": self.wrong, "missing": self.missing,
                "judged_from_previous_row": self.carried}


def format_table(table: Table, format_cell: Callable) -> str:
    """The table as the CSV a student would write, each cell written by `format_cell(value,
    answer type)`; read_table reads it back."""
    lines = [",".join(("layer",) + tuple(table.columns))]
    for label, row in zip(table.labels, table.rows):
        lines.append(",".join([label] + [format_cell(row[c], t) for c, t in table.columns.items()]))
    return "\n".join(lines) + "\n"


def read_table(text: str, table: Table, parse_cell: Callable) -> list[tuple[int, dict]]:
    """[(row position, {column: value})], sorted by position, each cell read by
    `parse_cell(text, answer type)`; InvalidAnswer if unreadable."""
    if len(text) > MAX_TEXT:
        raise InvalidAnswer(f"expected a table of at most {MAX_TEXT} characters, got {len(text)}")
    stripped = text.strip()
    if not stripped:
        raise InvalidAnswer("expected a table (CSV with a header row, or JSON rows), got empty text")
    raw_rows = _json_rows(stripped) if stripped[0] in "[{" else _csv_rows(stripped)
    if len(raw_rows) > MAX_ROWS:
        raise InvalidAnswer(f"the table has {len(raw_rows)} rows; at most {MAX_ROWS} are read")
    rows, seen = [], set()
    for order, raw in enumerate(raw_rows):
        position = _position(raw, order, table)
        if position in seen:
            raise InvalidAnswer(f"row {table.labels[position]} appears twice")
        seen.add(position)
        rows.append((position, _cells(raw, table, table.labels[position], parse_cell)))
    return sorted(rows, key=lambda r: r[0])


def _json_rows(text):
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InvalidAnswer(f"the table is not valid JSON ({str(error)[:80]})") from None
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidAnswer('a JSON table must be a list of objects, or {"rows": [...]}')
    return [{str(k): _json_cell(v) for k, v in row.items()} for row in data]


def _json_cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        raise InvalidAnswer(f"a table cell must be a number, a shape or text, got {json.dumps(value)[:40]}")
    return json.dumps(value)


def _csv_rows(text):
    lines = text.splitlines()
    delimiter = "\t" if "\t" in lines[0] else ";" if ";" in lines[0] else ","
    records = [r for r in csv.reader(lines, delimiter=delimiter) if any(cell.strip() for cell in r)]
    header = [h.strip() for h in records[0]]
    if len(records) < 2:
        raise InvalidAnswer("a CSV table needs a header row naming the columns and at least one row")
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if len(record) != len(header):
            raise InvalidAnswer(f"CSV line {number} has {len(record)} cells but the header has {len(header)}")
        rows.append({h: cell.strip() for h, cell in zip(header, record)})
    return rows


def _position(raw, order, table) -> int:
    key = next((k for k in ROW_KEYS if k in raw), None)
    if key is None:
        if order >= len(table.labels):
            raise InvalidAnswer(f"the table has more rows than the {len(table.labels)} expected")
        return order
    label = raw[key].strip()
    if label not in table.labels:
        raise InvalidAnswer(f"there is no row {label!r}; rows are numbered {table.labels[0]} "
                            f"to {table.labels[-1]}")
    return table.labels.index(label)


def _cells(raw, table, label, parse_cell) -> dict:
    cells = {}
    for column, text in raw.items():
        if column in ROW_KEYS:
            continue
        if column not in table.columns:
            raise InvalidAnswer(f"unknown column {column!r}; the columns are layer, "
                                f"{', '.join(table.columns)}")
        if text == "":
            continue                       # a blank cell: missing, so wrong
        try:
            cells[column] = parse_cell(text, table.columns[column])
        except InvalidAnswer as error:
            raise InvalidAnswer(f"row {label}, column {column}: {error}") from None
    return cells


def judge_rows(table: Table, rows, compare) -> list[RowResult]:
    """Every row of the table, in order, against the right values, or against what
    follows from the student's rows it takes its input from (the row before, or
    those the table's `sources` name) when those were wrong (carried forward). A
    row or cell the student left out is missing."""
    given = dict(rows)
    results = []
    for position, label in enumerate(table.labels):
        cells, truth = given.get(position, {}), table.rows[position]
        expected = table.expected(position, [given.get(p) for p in table.inputs(position)])
        wrong = [c for c, v in cells.items() if compare(table.columns[c], v, expected[c])[0] < 1.0]
        missing = [c for c in table.columns if c not in cells]
        carried = any(compare(table.columns[c], expected[c], truth[c])[0] < 1.0 for c in cells)
        score = (len(table.columns) - len(wrong) - len(missing)) / len(table.columns)
        results.append(RowResult(label, score, wrong, missing, carried))
    return results


def missing_text(results: list[RowResult], columns: int) -> str:
    """What the student left out, in one sentence, or ""."""
    count = sum(len(r.missing) for r in results)
    if not count:
        return ""
    absent = [i for i, r in enumerate(results) if len(r.missing) == columns]
    partial = [f"row {r.label} ({', '.join(r.missing)})" for r in results if 0 < len(r.missing) < columns]
    runs = _runs(absent)
    left_out = ", ".join(results[a].label if a == b else f"{results[a].label}–{results[b].label}"
                         for a, b in runs)
    parts = ([f"{'row' if len(absent) == 1 else 'rows'} {left_out} left out"] if absent else []) + partial
    more = f" and {len(parts) - MISSING_NAMED} more rows" if len(parts) > MISSING_NAMED else ""
    return (f"{count} of {len(results) * columns} cells are missing and count as wrong: "
            f"{'; '.join(parts[:MISSING_NAMED])}{more}.")


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """[(first, last)] of each run of consecutive positions."""
    runs = []
    for p in positions:
        if runs and runs[-1][1] == p - 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return runs
