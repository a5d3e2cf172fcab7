"""A4 Japanese PDF documents with fpdf2 and an embedded Noto font from PyPI.

Library: fpdf2 (pure Python, maintained, LGPL) embeds a subset of an OpenType/CFF font as
``FontFile3``; the Japanese font comes from the ``pylopdf-fonts-jp`` package on PyPI (Noto
Sans JP and Noto Serif JP, SIL Open Font License 1.1, which allows bundling and embedding), so
a machine with only Python renders the documents correctly: nothing is taken from the host.

Reproducible bytes: the creation date is a recorded fact handed in by the caller (an event's
timestamp), and fpdf2 derives the file identifier from the content, so a document re-issued
later for the same facts is the same file.

Every string drawn is checked against the font's character map first: a character the font
cannot show raises instead of printing a blank box (tofu).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import pylopdf_fonts_jp
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import TextMode, XPos, YPos

SANS, SERIF = "sans", "serif"
FONT_FILES = {SANS: Path(pylopdf_fonts_jp.sans_path()), SERIF: Path(pylopdf_fonts_jp.serif_path())}

INK = (33, 37, 41)
MUTED = (108, 117, 125)
ACCENT = (16, 62, 110)  # deep navy
RULE = (190, 198, 206)
BAND = (233, 239, 246)

# 行頭禁則 (may not start a line) and 行末禁則 (may not end a line).
NO_START = set(
    "、。，．,.）)」』】〕〉》］]｝}！？!?ー・：；:;ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々〜％%"
)
NO_END = set("（(「『【〔〈《［[｛{")
# A run of Latin letters or figures (with the unit that follows it) is never split.
_UNIT = re.compile(r"[A-Za-z0-9,.%/\-+:()¥]+[円件名社点%]?|\s|.", re.S)


@cache
def font_codepoints(font: str) -> frozenset[int]:
    tt = TTFont(str(FONT_FILES[font]), lazy=True)
    try:
        return frozenset(tt.getBestCmap())
    finally:
        tt.close()


class MissingGlyph(ValueError):
    pass


def check_glyphs(text: str, font: str) -> None:
    cps = font_codepoints(font)
    missing = sorted({ch for ch in text if ch not in "\n\t" and ord(ch) not in cps})
    if missing:
        raise MissingGlyph(f"font {font} has no glyph for {' '.join(f'U+{ord(c):04X}' for c in missing)}")


def yen(amount: int) -> str:
    return f"{amount:,}円"


def man_yen(amount: int) -> str:
    """Amounts as a Japanese brochure writes them: 5,000万円, 1億円, 3億5,000万円; else yen."""
    if amount % 10_000 or amount < 10_000:
        return yen(amount)
    man = amount // 10_000
    oku, rest = divmod(man, 10_000)
    if not oku:
        return f"{man:,}万円"
    return f"{oku:,}億{rest:,}万円" if rest else f"{oku:,}億円"


def jp_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


class DocumentPDF(FPDF):
    """A4 portrait with the project's type, a running footer and helpers for a formal document."""

    def __init__(self, *, title: str, subject: str, created_at: datetime, footer: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        for key, path in FONT_FILES.items():
            self.add_font(key, fname=str(path))
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(title)
        self.set_subject(subject)
        self.set_author("policy-admin")
        self.set_creator("policy-admin")
        self.set_producer("policy-admin (fpdf2)")
        self.set_lang("ja")
        self.set_creation_date(created_at.astimezone(UTC))
        self._footer_text = footer
        self.set_text_color(*INK)

    # ------------------------------------------------------------------ page furniture
    def footer(self) -> None:
        self.set_y(-12)
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y() - 1.5, self.w - self.r_margin, self.get_y() - 1.5)
        self.write_font(SANS, 7.5, MUTED)
        self.cell(0, 4, self._footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"{self.page_no()} / {{nb}}", align="R")

    # ------------------------------------------------------------------ text primitives
    def write_font(self, font: str, size: float, color: tuple[int, int, int] = INK) -> None:
        self.set_font(font, size=size)
        self.set_text_color(*color)

    def safe_cell(self, w: float, h: float, text: str, **kwargs: object) -> None:
        check_glyphs(text, self.font_family)
        self.cell(w, h, text, **kwargs)  # type: ignore[arg-type]

    def bold_cell(self, w: float, h: float, text: str, **kwargs: object) -> None:
        """The fonts have one weight: a thin outline stroked over the fill reads as bold."""
        check_glyphs(text, self.font_family)
        colour = self.text_color
        rgb = tuple(round(v * 255) for v in colour.colors[:3]) if colour is not None else INK
        with self.local_context(text_mode=TextMode.FILL_STROKE, line_width=0.18, draw_color=rgb):
            self.cell(w, h, text, **kwargs)  # type: ignore[arg-type]

    def wrap(self, text: str, width: float) -> list[str]:
        """Lines of at most ``width`` mm in the current font, with Japanese line-breaking rules
        (禁則処理): no closing mark or small kana at a line start, no opening bracket at an end;
        Latin words and figures are never split."""
        lines: list[str] = []
        for paragraph in text.split("\n"):
            units = _UNIT.findall(paragraph)
            line, line_w = "", 0.0
            for unit in units:
                if not line and unit.isspace():
                    continue
                unit_w = self._unit_width(unit)
                if line_w + unit_w <= width or not line or unit[0] in NO_START:
                    # a closing mark that does not fit hangs at the end of the line (ぶら下げ)
                    line, line_w = line + unit, line_w + unit_w
                    continue
                carry = ""
                while line and line[-1] in NO_END:
                    carry, line = line[-1] + carry, line[:-1]
                lines.append(line.rstrip())
                line = (carry + unit).lstrip()
                line_w = self.get_string_width(line)
            lines.append(line.rstrip())
        return lines

    def _unit_width(self, unit: str) -> float:
        key = (self.font_family, self.font_size_pt, unit)
        cache = self.__dict__.setdefault("_widths", {})
        if key not in cache:
            cache[key] = self.get_string_width(unit)
        return cache[key]

    def para(
        self,
        text: str,
        *,
        size: float = 9.5,
        font: str = SANS,
        color: tuple[int, int, int] = INK,
        indent: float = 0,
        leading: float = 1.6,
        width: float | None = None,
        bullet: str | None = None,
    ) -> None:
        self.write_font(font, size, color)
        check_glyphs(text + (bullet or ""), font)
        line_h = size * 0.3528 * leading
        left = self.l_margin + indent
        avail = (width or (self.w - self.r_margin - left)) - (4 if bullet else 0)
        for i, line in enumerate(self.wrap(text, avail)):
            if self.will_page_break(line_h):
                self.add_page()
            self.set_x(left)
            if bullet:
                self.cell(4, line_h, bullet if i == 0 else "")
            self.cell(avail, line_h, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str, *, number: str | None = None, size: float = 12.5) -> None:
        if self.will_page_break(22):
            self.add_page()
        self.ln(3)
        y = self.get_y()
        self.set_fill_color(*ACCENT)
        self.rect(self.l_margin, y + 0.8, 1.6, 6.2, style="F")
        self.set_x(self.l_margin + 4)
        self.write_font(SERIF, size, ACCENT)
        self.bold_cell(0, 8, f"{number}　{text}" if number else text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)

    def title_block(self, title: str, english: str) -> None:
        self.write_font(SERIF, 19, ACCENT)
        self.bold_cell(0, 11, title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.write_font(SANS, 8.5, MUTED)
        self.safe_cell(0, 5, english, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*ACCENT)
        self.set_line_width(0.6)
        y = self.get_y() + 1.5
        self.line(self.l_margin, y, self.w - self.r_margin, y)
        self.set_line_width(0.2)
        self.line(self.l_margin, y + 1.0, self.w - self.r_margin, y + 1.0)
        self.set_y(y + 4)

    def ruled_table(
        self,
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        *,
        header: Sequence[str] | None = None,
        align: Sequence[str] | None = None,
        size: float = 9,
        row_h: float = 6.2,
        label_column: bool = False,
    ) -> None:
        """A ruled table; cells wrap. ``label_column`` shades the first column (a form's labels)."""
        align = align or ["L"] * len(widths)
        self.set_draw_color(*RULE)
        self.set_line_width(0.2)

        def draw(cells: Sequence[str], *, head: bool) -> None:
            self.write_font(SANS, size, ACCENT if head else INK)
            wrapped = [self.wrap(str(c), w - 3) for c, w in zip(cells, widths, strict=True)]
            line_h = size * 0.3528 * 1.45
            h = max(row_h, max(len(x) for x in wrapped) * line_h + 2.2)
            if self.will_page_break(h):
                self.add_page()
                if header is not None and not head:
                    draw(header, head=True)
            x0, y0 = self.l_margin, self.get_y()
            x = x0
            for i, (lines, w) in enumerate(zip(wrapped, widths, strict=True)):
                shaded = head or (label_column and i == 0)
                self.set_fill_color(*BAND)
                self.rect(x, y0, w, h, style="DF" if shaded else "D")
                check_glyphs("".join(lines), SANS)
                top = y0 + (h - len(lines) * line_h) / 2
                for j, line in enumerate(lines):
                    self.set_xy(x + 1.5, top + j * line_h)
                    self.cell(w - 3, line_h, line, align=align[i] if not head else "C")
                x += w
            self.set_xy(x0, y0 + h)

        if header is not None:
            draw(header, head=True)
        for r in rows:
            draw(r, head=False)
        self.set_text_color(*INK)

    def note_box(self, text: str, *, size: float = 9) -> None:
        """A shaded box for an evaluation or a notice."""
        self.write_font(SANS, size, INK)
        lines = self.wrap(text, self.epw - 8)
        line_h = size * 0.3528 * 1.6
        h = len(lines) * line_h + 5
        if self.will_page_break(h):
            self.add_page()
        y = self.get_y()
        self.set_fill_color(*BAND)
        self.set_draw_color(*BAND)
        self.rect(self.l_margin, y, self.epw, h, style="DF")
        check_glyphs(text, SANS)
        for i, line in enumerate(lines):
            self.set_xy(self.l_margin + 4, y + 2.5 + i * line_h)
            self.cell(self.epw - 8, line_h, line)
        self.set_xy(self.l_margin, y + h + 2)


def render(pdf: DocumentPDF) -> bytes:
    pdf.alias_nb_pages()
    for font in pdf.fonts.values():
        # The subset keeps the font's bounding box: recomputing it would draw every glyph of the
        # subset (most of the time of a document), and the head table's box only needs to enclose.
        if hasattr(font, "ttfont"):
            font.ttfont.recalcBBoxes = False
    return bytes(pdf.output())
