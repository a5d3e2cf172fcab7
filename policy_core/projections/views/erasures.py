"""Erasure requests per data subject: what the scheduler carries out when it comes due.

No personal data: scheme, member number, status and dates only.
"""

from __future__ import annotations

from typing import Any

from ...aggregates.subject import DataSubject
from ..tables import Rows, Table, col
from ..view import View, handles

ERASURES = "rm_erasures"


class ErasuresView(View):
    name = "erasures"
    version = 1
    rebuild_cost = 0.1
    tables = (
        Table(
            ERASURES,
            (
                col("subject_id", "uuid", null=False),
                col("scheme", "text", null=False),
                col("member_number", "text", null=False),
                col("status", "text"),
                col("requested_on", "date"),
                col("lawful_from", "date"),
                col("blocked_by", "text"),
                col("erased_at", "timestamptz"),
                col("updated_at", "timestamptz", null=False),
            ),
            key=("subject_id",),
            owner="subject_id",
            indexes=(("status", "lawful_from"),),
        ),
    )

    @handles(DataSubject.Created)
    def on_created(self, e: Any, rows: Rows) -> None:
        rows.new(
            ERASURES,
            subject_id=e.originator_id,
            scheme=e.scheme,
            member_number=e.member_number,
            updated_at=e.timestamp,
        )

    @handles(DataSubject.ErasureRequested)
    def on_requested(self, e: Any, rows: Rows) -> None:
        row = rows.require(ERASURES, e.originator_id)
        row.update(
            status="pending",
            requested_on=e.requested_on,
            lawful_from=e.lawful_from,
            blocked_by=e.blocked_by,
            updated_at=e.timestamp,
        )

    @handles(DataSubject.PersonalDataErased)
    def on_erased(self, e: Any, rows: Rows) -> None:
        row = rows.require(ERASURES, e.originator_id)
        row.update(
            status="erased",
            requested_on=e.requested_on,
            lawful_from=None,
            blocked_by=None,
            erased_at=e.erased_at,
            updated_at=e.timestamp,
        )
