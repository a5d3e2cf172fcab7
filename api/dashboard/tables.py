"""Tables as data: shown as HTML (formatted, with drill-through links) and exported as CSV.

Each cell has a raw value (integer yen, ISO date, text) and its display text; the HTML
cell carries the raw value in ``data-value``, and the CSV export (UTF-8 with a BOM, for
Excel) has exactly the raw values of the same rows under the same headers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from fastapi.responses import Response

from policy_core.calendar import TOKYO

from ..tabular import encode_csv
from .i18n import Translator

Link = Callable[[dict[str, Any]], str | None]


@dataclass
class Col:
    key: str
    label: str
    kind: str = "text"  # text, value (translated code), yen, count, pct, date, datetime, month, steps
    link: Link | None = None
    numeric: bool = False

    def __post_init__(self) -> None:
        self.numeric = self.kind in ("yen", "count", "pct")


@dataclass
class DataTable:
    id: str
    caption: str
    columns: list[Col]
    rows: list[dict[str, Any]]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def cells(self, t: Translator) -> list[list[dict[str, Any]]]:
        out = []
        for row in self.rows:
            line = []
            for c in self.columns:
                v = row.get(c.key)
                line.append(
                    {
                        "text": display(t, c.kind, v),
                        "raw": raw(c.kind, v),
                        "href": c.link(row) if c.link and v is not None else None,
                        "numeric": c.numeric,
                        "steps": v if c.kind == "steps" else None,
                    }
                )
            out.append(line)
        return out


def display(t: Translator, kind: str, v: Any) -> str:
    if kind == "yen":
        return t.yen(v)
    if kind == "count":
        return t.count(v)
    if kind == "pct":
        return t.pct(v)
    if kind == "date":
        return t.date(v)
    if kind == "datetime":
        return t.datetime(v)
    if kind == "month":
        return t.month(v)
    if kind == "value":
        return t.value(v)
    if kind == "steps":
        return " / ".join(v or [])
    if isinstance(v, bool):
        return t("yes") if v else t("no")
    return "—" if v is None else str(v)


def raw(kind: str, v: Any) -> str:
    if v is None:
        return ""
    if kind == "steps":
        return " / ".join(v)
    if kind == "pct":
        return f"{float(v):.4f}"
    if kind == "month":
        return f"{v:%Y-%m}"
    if isinstance(v, datetime):
        return v.astimezone(TOKYO).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, UUID):
        return str(v)
    return str(v)


def csv_response(table: DataTable) -> Response:
    body = encode_csv(
        [c.label for c in table.columns],
        ([raw(c.kind, row.get(c.key)) for c in table.columns] for row in table.rows),
    )
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{table.id}.csv"'},
    )
