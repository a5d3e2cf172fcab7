"""CSV on ``Accept: text/csv`` for lists and reports: one mechanism for every such route.

A route builds its JSON answer as usual and hands it to ``answer`` with the rows a table of it
holds (``items`` of a list; a report's rows). With ``Accept: text/csv`` preferred over JSON the
answer is those rows as CSV: UTF-8 with a byte-order mark (Excel then opens Japanese text
correctly), a header row of the same field names as the JSON, one row per item, values as the
JSON has them (nested objects and lists as JSON text, ``null`` as an empty cell, moments at the
Tokyo offset)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from .presenters import tokyo

CSV = "text/csv"
BOM = "\ufeff"

#: the OpenAPI ``content`` entry of an answer that can be CSV (``responses.typed(..., csv=True)``)
CSV_CONTENT: dict[str, Any] = {
    CSV: {"schema": {"type": "string", "description": "UTF-8 CSV with BOM, header row"}}
}


def _quality(accept: str, media: str) -> float:
    best = 0.0
    kind = media.split("/")[0]
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        name = fields[0].lower()
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        specific = name == media
        if specific or name in (f"{kind}/*", "*/*"):
            best = max(best, q + (0.0001 if specific else 0.0))
    return best


def wants_csv(request: Request) -> bool:
    """``text/csv`` is asked for and preferred to JSON (equal preference: JSON)."""
    accept = request.headers.get("accept", "")
    if "csv" not in accept.lower():
        return False
    return _quality(accept, CSV) > max(_quality(accept, "application/json"), 0.0) + 0.00005


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(jsonable_encoder(value), ensure_ascii=False, separators=(",", ":"))
    return str(value)


def to_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> bytes:
    rows = [tokyo(r) for r in rows]
    if columns is None:
        columns = []
        for r in rows:
            columns.extend(k for k in r if k not in columns)
    return encode_csv(columns, ([_cell(r.get(c)) for c in columns] for r in rows))


def encode_csv(header: list[str], rows: Iterable[list[str]]) -> bytes:
    """A header row and rows of cells as CSV for Excel: UTF-8 with a byte-order mark, CRLF lines
    (the API's CSV answers and the dashboard's table downloads alike)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return (BOM + out.getvalue()).encode("utf-8")


def answer(
    request: Request,
    body: Any,
    rows: list[dict[str, Any]],
    *,
    filename: str,
    columns: list[str] | None = None,
) -> Any:
    """``body`` as JSON, or ``rows`` as CSV when the client prefers ``text/csv``."""
    if not wants_csv(request):
        return body
    return Response(
        content=to_csv(rows, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"', "Vary": "Accept"},
    )
