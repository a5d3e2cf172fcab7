"""Checks on generated PDFs with real tools: text extracted and pages rendered by PDFium
(pypdfium2), fonts read by pypdf.

pdfminer.six extracts nothing from these files: fpdf2 gives a CID-keyed CFF font an embedded
encoding CMap named ``Adobe-Identity-UCS``, which pdfminer looks up by name and does not find;
PDFium (Chrome's PDF engine) and pypdf read the ToUnicode map and the text as viewers do."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
from pypdf import PdfReader

from policy_core.documents.pdf import SANS, SERIF, font_codepoints

DOCS = Path(__file__).resolve().parent.parent / "docs"


def pdf_text(data: bytes) -> str:
    doc = pdfium.PdfDocument(data)
    try:
        pages = []
        for i in range(len(doc)):
            textpage = doc[i].get_textpage()
            pages.append(textpage.get_text_range())
            textpage.close()
        return "\f".join(pages).replace("\r\n", "\n")
    finally:
        doc.close()


def embedded_fonts(data: bytes) -> list[tuple[str, bool]]:
    """(base font name, embedded?) of every font the pages use."""
    out = []
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            desc = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            desc = desc.get_object() if desc is not None else {}
            embedded = any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            out.append((str(font["/BaseFont"]), embedded))
    return out


def assert_renders_without_missing_glyphs(data: bytes, *, keep_first_page_as: str | None = None) -> int:
    """Every font embedded, no replacement character, every extracted character in the fonts'
    character maps, every page rendered by PDFium with ink on it. Returns the page count."""
    fonts = embedded_fonts(data)
    assert fonts and all(embedded for _, embedded in fonts), fonts
    text = pdf_text(data)
    assert "\ufffd" not in text and "\u25a1" not in text
    cps = font_codepoints(SANS) | font_codepoints(SERIF)
    missing = {ch for ch in text if not ch.isspace() and ord(ch) not in cps}
    assert not missing, f"characters without a glyph: {sorted(missing)}"
    doc = pdfium.PdfDocument(data)
    try:
        for i in range(len(doc)):
            page = doc[i]
            chars = page.get_textpage().count_chars()
            assert chars > 0
            image = page.render(scale=1.3).to_pil().convert("L")
            lo, hi = image.getextrema()
            assert lo < 100 and hi > 200, "a page rendered blank"
            if i == 0 and keep_first_page_as:
                DOCS.mkdir(exist_ok=True)
                image_rgb = page.render(scale=1.3).to_pil().convert("RGB")
                image_rgb.save(DOCS / keep_first_page_as, optimize=True)
        return len(doc)
    finally:
        doc.close()
