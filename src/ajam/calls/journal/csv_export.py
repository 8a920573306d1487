"""The journal as CSV, one row per call, for spreadsheets and CRMs.

Columns are fixed (``CSV_COLUMNS``, in that order, after a header row). Times are ISO 8601 UTC as in
``Call.to_json``; ``rang`` lists the extensions separated by spaces; ``transfers`` is the JSON list of
``Call.to_json()["transfers"]`` (empty when none); missing values are empty cells. Text is written as
given (UTF-8 when ``out`` is a UTF-8 file; open it with ``newline=""``, ``encoding="utf-8-sig"`` for Excel).

Caller names come from outside (caller ID), so a cell that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or CR) gets a leading ``'`` — except phone numbers such as
``+4930123``, which are left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

CSV_COLUMNS = (
    "id",
    "direction",
    "caller_number",
    "caller_name",
    "callee_number",
    "callee_name",
    "answered_by",
    "outcome",
    "cause",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "talk_seconds",
    "recording",
    "queue",
    "rang",
    "transfers",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE_NUMBER = re.compile(r"[+-]?[0-9 ()./-]*")


def csv_row(document: Mapping[str, Any], *, guard_formulas: bool = True) -> list[str]:
    caller = document.get("caller") or {}
    callee = document.get("callee") or {}
    transfers = document.get("transfers") or []
    values: dict[str, Any] = {
        **document,
        "caller_number": caller.get("number", ""),
        "caller_name": caller.get("name", ""),
        "callee_number": callee.get("number", ""),
        "callee_name": callee.get("name", ""),
        "rang": " ".join(document.get("rang") or []),
        "transfers": json.dumps(transfers, ensure_ascii=False, separators=(",", ":")) if transfers else "",
    }
    cells = ["" if values.get(column) is None else str(values[column]) for column in CSV_COLUMNS]
    return [_neutralise(cell) for cell in cells] if guard_formulas else cells


def _neutralise(cell: str) -> str:
    if cell.startswith(_FORMULA_START) and not _PHONE_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell
