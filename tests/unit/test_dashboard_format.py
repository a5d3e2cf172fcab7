"""The dashboard's formats: yen, Japanese and English dates in Asia/Tokyo, whole months, CSV with a BOM."""

from __future__ import annotations

from datetime import UTC, date, datetime

from api.dashboard.i18n import Translator
from api.dashboard.queries import whole_months
from api.dashboard.tables import Col, DataTable, csv_response
from policy_core.calendar import TOKYO


def test_yen_dates_and_ratios():
    ja, en = Translator("ja"), Translator("en")
    assert ja.yen(1_234_567) == "¥1,234,567" == en.yen(1_234_567)
    assert ja.yen(None) == "—"
    assert ja.date(date(2026, 4, 27)) == "2026年4月27日" and en.date(date(2026, 4, 27)) == "27 Apr 2026"
    moment = datetime(2026, 3, 25, 7, 0, tzinfo=UTC)  # 16:00 in Tokyo
    assert ja.datetime(moment) == "2026年3月25日 16:00" and en.datetime(moment) == "25 Mar 2026 16:00 JST"
    assert ja.date(datetime(2026, 3, 31, 20, 0, tzinfo=UTC)) == "2026年4月1日"  # the Tokyo date
    assert ja.pct(0.1234) == "12.3%" and ja.value("1") == "1 資金不足" and en.value("active") == "active"
    assert Translator("fr").lang == "ja"  # unknown languages fall back to Japanese


def test_whole_months_of_cover():
    start = datetime(2026, 3, 25, 16, tzinfo=TOKYO)
    assert whole_months(start, datetime(2027, 3, 25, 16, tzinfo=TOKYO)) == 12
    assert whole_months(start, datetime(2026, 12, 1, 9, tzinfo=TOKYO)) == 8
    assert whole_months(start, datetime(2026, 4, 25, 15, tzinfo=TOKYO)) == 0
    assert whole_months(start, start) == 0


def test_csv_has_a_bom_and_the_raw_values():
    table = DataTable(
        "t",
        "caption",
        [Col("d", "日付", "date"), Col("a", "金額", "yen"), Col("s", "状態", "value")],
        [{"d": date(2026, 4, 27), "a": 1_000, "s": "active"}, {"d": None, "a": 0, "s": None}],
    )
    body = csv_response(table).body
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").splitlines() == ["日付,金額,状態", "2026-04-27,1000,active", ",0,"]
    cells = table.cells(Translator("ja"))
    assert [c["text"] for c in cells[0]] == ["2026年4月27日", "¥1,000", "有効"]
    assert [c["raw"] for c in cells[0]] == ["2026-04-27", "1000", "active"]
