"""Pure helpers of the PDF documents: Japanese line breaking, yen wording, the glyph check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policy_core.documents.certificate import jp_moment
from policy_core.documents.pdf import SANS, DocumentPDF, MissingGlyph, check_glyphs, man_yen, yen


@pytest.fixture(scope="module")
def pdf():
    doc = DocumentPDF(title="t", subject="s", created_at=datetime(2026, 1, 1, tzinfo=UTC), footer="f")
    doc.add_page()
    doc.set_font(SANS, size=10)
    return doc


def test_yen_wording():
    assert yen(1_234_567) == "1,234,567円"
    assert man_yen(50_000_000) == "5,000万円"
    assert man_yen(100_000_000) == "1億円"
    assert man_yen(350_000_000) == "3億5,000万円"
    assert man_yen(12_345) == "12,345円" and man_yen(5_000) == "5,000円"


def test_moments_are_written_in_tokyo_time():
    assert jp_moment(datetime(2026, 3, 25, 7, 0, tzinfo=UTC)) == "2026年3月25日 午後4時"
    assert jp_moment(datetime(2026, 3, 25, 0, 30, tzinfo=UTC)) == "2026年3月25日 午前9時30分"


def test_wrap_keeps_closing_marks_off_a_line_start_and_figures_whole(pdf):
    text = "委託先の監督（個人情報保護法第25条）について、契約書に安全管理措置を定めていません。" * 4
    for width in (40, 57, 63, 80):
        lines = pdf.wrap(text, width)
        assert "".join(lines) == text
        for line in lines[1:]:
            assert line[0] not in "、。）」"
        for line in lines[:-1]:
            assert line[-1] not in "（「"
            assert pdf.get_string_width(line) <= width + pdf.get_string_width("。")  # a hanging mark at most
    lines = pdf.wrap("損害額 39,000,000円 から免責金額 100,000円 を差し引き", 30)
    assert any("39,000,000円" in line for line in lines) and any("100,000円" in line for line in lines)


def test_a_character_the_font_lacks_is_refused_not_printed_as_tofu():
    check_glyphs("個人情報 ①② ABC 1,000円", SANS)
    with pytest.raises(MissingGlyph, match=r"U\+1F600"):
        check_glyphs("漏えい😀", SANS)
