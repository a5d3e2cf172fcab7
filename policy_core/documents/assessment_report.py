"""個人情報管理リスク評価報告書: the report of one risk assessment, as PDF and as HTML.

``report_context`` builds everything the report prints from recorded facts only: the
assessment's event (its result, texts included), the scheme register's entries up to this
assessment (the scheme average) and the scheme preset's contact. The PDF and the HTML page read
the same context, so they say the same thing.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..calendar import TOKYO
from ..scheme import Scheme
from . import labels
from .pdf import ACCENT, BAND, INK, MUTED, RULE, SANS, SERIF, DocumentPDF, jp_date, render

PPC_REPORT_THRESHOLD = 1_000
"""More than this many people in one leak must be reported to the Commission (domain.md §12)."""

INTRO = (
    "このたびは「無料リスク診断サービス」をご利用いただき、誠にありがとうございます。"
    "本報告書は、貴社からご提出いただいた「{title}」（{version}版）のご回答に基づき、"
    "貴社の個人情報管理体制を{areas}の管理対策ごとに評価し、評価の低い項目について"
    "具体的な改善策をご提案するものです。"
)
CLOSING = (
    "本報告書は、ご回答いただいた内容に基づく書面上の評価であり、実地の調査や監査によるもの"
    "ではありません。個人情報保護法およびガイドラインは改正されることがありますので、"
    "本報告書を貴社の点検・改善の手がかりとしてご活用いただき、年1回程度の再診断をお勧めします。"
)
NO_ADVICE = "特段の指摘事項はありません。現在の管理を継続し、年1回の点検で水準を維持してください。"


def scheme_name(scheme: Scheme) -> str:
    return scheme.contact.scheme_name if scheme.contact else scheme.name


def contact_lines(scheme: Scheme) -> list[str]:
    c = scheme.contact
    if c is None:
        return [scheme.association]
    lines = [c.office]
    if c.phone:
        lines.append(f"TEL. {c.phone}")
    if c.note:
        lines.append(c.note)
    return lines


def report_number(scheme: str, number: int) -> str:
    return f"RA-{scheme.upper()}-{number:06d}"


def report_context(
    assessment: Any, *, scheme: Scheme, average: dict[str, Any] | None, recorded_at: datetime
) -> dict[str, Any]:
    result = assessment.result
    avg_areas = (average or {}).get("areas", {})
    areas = []
    for a in result["areas"]:
        areas.append({**a, "average": avg_areas.get(a["key"]) if average else None})
    business = assessment.business
    notices = []
    if business["records_held"] > PPC_REPORT_THRESHOLD:
        notices.append(
            f"貴社が保有する個人情報は約{business['records_held']:,}件とのことです。1,000人を超える"
            "個人データの漏えい等が発生した場合（そのおそれがある場合を含みます）、個人情報保護委員会"
            "への報告（速報は概ね3〜5日以内、確報は30日以内）と本人への通知が法律上の義務となります。"
        )
    protected = [c for c in result["causes"] if c["protected"]]
    exposed = [c for c in result["causes"] if not c["protected"]]
    return {
        "title": "個人情報管理リスク評価報告書",
        "title_en": "Personal Information Management Risk Assessment Report",
        "number": report_number(assessment.scheme, assessment.number),
        "assessment_id": str(assessment.id),
        "scheme_key": assessment.scheme,
        "scheme_name": scheme_name(scheme),
        "association": scheme.association,
        "member_number": assessment.member_number,
        "industry": labels.industry(business["industry"]),
        "employees": business["employees"],
        "records_held": business["records_held"],
        "assessed_on": jp_date(assessment.assessed_on),
        "issued_on": jp_date(recorded_at.astimezone(TOKYO)),
        "questionnaire_version": assessment.questionnaire_version,
        "intro": INTRO.format(
            title="個人情報管理チェックリスト", version=assessment.questionnaire_version, areas=len(areas)
        ),
        "overall": result["overall"],
        "areas": areas,
        "average_members": average["members"] if average else None,
        "causes": result["causes"],
        "protected": protected,
        "exposed": exposed,
        "notices": notices,
        "no_advice": NO_ADVICE,
        "closing": CLOSING,
        "contact": contact_lines(scheme),
        "recorded_at": recorded_at,
    }


# ---------------------------------------------------------------------------------------- PDF
GRADE_COLOURS = {
    "A": (25, 118, 72),
    "B": (46, 125, 160),
    "C": (196, 140, 20),
    "D": (214, 98, 36),
    "E": (183, 36, 36),
}
AVERAGE_COLOUR = (232, 120, 30)


def _info_box(pdf: DocumentPDF, ctx: dict[str, Any]) -> None:
    rows = [
        ("報告書番号", ctx["number"]),
        ("診断日", ctx["assessed_on"]),
        ("発行日", ctx["issued_on"]),
        ("チェックリスト", f"{ctx['questionnaire_version']}版"),
    ]
    x0 = pdf.w - pdf.r_margin - 66
    y = pdf.get_y()
    for label, value in rows:
        pdf.set_xy(x0, y)
        pdf.write_font(SANS, 8, MUTED)
        pdf.safe_cell(24, 5, label)
        pdf.write_font(SANS, 8.5, INK)
        pdf.safe_cell(42, 5, value, align="R")
        y += 5
    pdf.set_draw_color(*RULE)
    pdf.line(x0, y + 0.5, pdf.w - pdf.r_margin, y + 0.5)


def _addressee(pdf: DocumentPDF, ctx: dict[str, Any]) -> None:
    y = pdf.get_y()
    pdf.set_xy(pdf.l_margin, y)
    pdf.write_font(SERIF, 13)
    pdf.bold_cell(100, 8, f"会員番号 {ctx['member_number']}　御中")
    pdf.set_xy(pdf.l_margin, y + 9)
    pdf.write_font(SANS, 8.5, MUTED)
    pdf.safe_cell(100, 5, ctx["scheme_name"])
    pdf.set_xy(pdf.l_margin, y + 14)
    pdf.safe_cell(
        100,
        5,
        f"業種：{ctx['industry']}　従業員数：{ctx['employees']:,}名"
        f"　保有個人情報：約{ctx['records_held']:,}件",
    )


def _overall(pdf: DocumentPDF, ctx: dict[str, Any]) -> None:
    o = ctx["overall"]
    y = pdf.get_y()
    colour = GRADE_COLOURS[o["grade"]]
    pdf.set_fill_color(*colour)
    pdf.rect(pdf.l_margin, y, 34, 30, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_xy(pdf.l_margin, y + 2)
    pdf.write_font(SANS, 8, (255, 255, 255))
    pdf.safe_cell(34, 5, "総合評価", align="C")
    pdf.set_xy(pdf.l_margin, y + 7)
    pdf.write_font(SERIF, 30, (255, 255, 255))
    pdf.bold_cell(34, 15, o["grade"], align="C")
    pdf.set_xy(pdf.l_margin, y + 22.5)
    pdf.write_font(SANS, 8.5, (255, 255, 255))
    pdf.safe_cell(34, 5, f"{o['score']}点 / 100点", align="C")
    x = pdf.l_margin + 38
    pdf.set_xy(x, y + 1)
    pdf.write_font(SERIF, 13, colour)
    pdf.bold_cell(0, 7, o["label"])
    pdf.set_xy(x, y + 9)
    width = pdf.w - pdf.r_margin - x
    pdf.write_font(SANS, 9.5)
    for i, line in enumerate(pdf.wrap(o["summary"], width)):
        pdf.set_xy(x, y + 9 + i * 5.2)
        pdf.safe_cell(width, 5.2, line)
    pdf.set_y(max(pdf.get_y() + 6, y + 33))


def _chart(pdf: DocumentPDF, ctx: dict[str, Any]) -> None:
    """Horizontal bars: the member's score per area, the scheme average as a marker."""
    label_w, bar_w, row_h = 50, 102, 6.6
    x_bar = pdf.l_margin + label_w
    if pdf.will_page_break(row_h * (len(ctx["areas"]) + 3)):
        pdf.add_page()
    y0 = pdf.get_y() + 1
    pdf.write_font(SANS, 7, MUTED)
    for tick in range(0, 101, 25):
        x = x_bar + bar_w * tick / 100
        pdf.set_draw_color(*RULE)
        pdf.line(x, y0, x, y0 + row_h * len(ctx["areas"]))
        pdf.set_xy(x - 5, y0 + row_h * len(ctx["areas"]) + 0.5)
        pdf.safe_cell(10, 4, str(tick), align="C")
    for i, a in enumerate(ctx["areas"]):
        y = y0 + i * row_h
        pdf.set_xy(pdf.l_margin, y)
        pdf.write_font(SANS, 8.2)
        pdf.safe_cell(label_w - 2, row_h, a.get("short_title", a["title"]), align="R")
        pdf.set_fill_color(*BAND)
        pdf.rect(x_bar, y + 1.3, bar_w, row_h - 2.6, style="F")
        pdf.set_fill_color(*GRADE_COLOURS[a["grade"]])
        if a["score"]:
            pdf.rect(x_bar, y + 1.3, bar_w * a["score"] / 100, row_h - 2.6, style="F")
        if a["average"] is not None:
            ax = x_bar + bar_w * a["average"] / 100
            pdf.set_draw_color(*AVERAGE_COLOUR)
            pdf.set_line_width(0.9)
            pdf.line(ax, y + 0.4, ax, y + row_h - 0.4)
            pdf.set_line_width(0.2)
        pdf.set_xy(x_bar + bar_w + 1.5, y)
        pdf.write_font(SANS, 8.2)
        pdf.safe_cell(16, row_h, f"{a['score']}点（{a['grade']}）")
    pdf.set_y(y0 + row_h * len(ctx["areas"]) + 6)
    pdf.write_font(SANS, 7.5, MUTED)
    if ctx["average_members"]:
        legend = (
            f"棒：貴社の評点（100点満点）　橙線：本制度で診断を受けた会員{ctx['average_members']:,}社の平均"
            "（本診断時点）"
        )
    else:
        legend = "棒：貴社の評点（100点満点）。制度の平均は、診断を受けた会員が5社以上になると表示します。"
    pdf.para(legend, size=7.5, color=MUTED)


def render_assessment_pdf(ctx: dict[str, Any]) -> bytes:
    pdf = DocumentPDF(
        title=f"{ctx['title']} {ctx['number']}",
        subject=ctx["title_en"],
        created_at=ctx["recorded_at"],
        footer=f"{ctx['title']}　{ctx['number']}　{ctx['scheme_name']}",
    )
    pdf.add_page()
    pdf.title_block(ctx["title"], ctx["title_en"])
    top = pdf.get_y()
    _info_box(pdf, ctx)
    pdf.set_y(top)
    _addressee(pdf, ctx)
    pdf.set_y(top + 26)
    pdf.para(ctx["intro"], size=9.2, leading=1.7)

    pdf.heading("総合評価", number="1")
    _overall(pdf, ctx)
    for notice in ctx["notices"]:
        pdf.note_box("ご注意　" + notice, size=8.6)

    pdf.heading("管理対策別の評価", number="2")
    _chart(pdf, ctx)
    header = ["管理対策", "評点", "評価"] + (["制度平均"] if ctx["average_members"] else [])
    widths = [104, 22, 48] if not ctx["average_members"] else [86, 22, 44, 22]
    rows = []
    for a in ctx["areas"]:
        row = [a["title"], f"{a['score']}", f"{a['grade']}　{a['label']}"]
        if ctx["average_members"]:
            row.append(f"{a['average']}")
        rows.append(row)
    pdf.ruled_table(rows, widths, header=header, align=["L", "R", "L", "R"], size=8.6)

    pdf.heading("管理対策別の所見とご提案", number="3")
    for i, a in enumerate(ctx["areas"], start=1):
        if pdf.will_page_break(30):
            pdf.add_page()
        pdf.ln(1.5)
        pdf.write_font(SERIF, 10.5, ACCENT)
        pdf.bold_cell(0, 6.5, f"3-{i}　{a['title']}", new_x="LMARGIN", new_y="NEXT")
        pdf.write_font(SANS, 8, MUTED)
        avg = f"　制度平均 {a['average']}点" if a["average"] is not None else ""
        pdf.safe_cell(0, 4.5, f"評点 {a['score']}点（{a['grade']}）{avg}", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.5)
        pdf.para("【現状】", size=8.6, color=ACCENT, indent=2)
        for f in a["findings"]:
            pdf.para(f, size=8.6, indent=4, bullet="・")
        pdf.para("【ご提案】", size=8.6, color=ACCENT, indent=2)
        if a["advice"]:
            for j, adv in enumerate(a["advice"], start=1):
                pdf.para(adv, size=8.6, indent=4, bullet=f"{j}.")
        else:
            pdf.para(ctx["no_advice"], size=8.6, indent=4)

    pdf.heading("漏えい原因別の対策状況", number="4")
    pdf.para(
        "個人情報漏えい事故の主な原因ごとに、関連するご回答から対策の状況を評価しました。"
        "「要強化」の原因は、上記のご提案を優先して実施してください。",
        size=8.8,
    )
    pdf.ln(1)
    pdf.ruled_table(
        [[c["title"], f"{c['score']}", "対策済み" if c["protected"] else "要強化"] for c in ctx["causes"]],
        [118, 22, 34],
        header=["漏えいの原因", "評点", "対策状況"],
        align=["L", "R", "C"],
        size=8.6,
    )

    pdf.heading("おわりに", number="5")
    pdf.para(ctx["closing"], size=8.8)
    pdf.ln(2)
    pdf.write_font(SANS, 8.8, ACCENT)
    pdf.safe_cell(0, 5, f"お問い合わせ先　{ctx['scheme_name']}", new_x="LMARGIN", new_y="NEXT")
    for line in ctx["contact"]:
        pdf.para(line, size=8.8, indent=4)
    return render(pdf)


# --------------------------------------------------------------------------------------- HTML
@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("policy_core.documents", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_assessment_html(ctx: dict[str, Any], *, pdf_href: str | None = None) -> str:
    return _environment().get_template("assessment_report.html").render(ctx=ctx, pdf_href=pdf_href)
