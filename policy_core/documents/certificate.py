"""加入者証 (certificate of cover) and 保険金支払通知書 (payment advice) as A4 PDFs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..calendar import TOKYO
from . import labels
from .assessment_report import contact_lines, scheme_name
from .pdf import ACCENT, INK, MUTED, SANS, SERIF, DocumentPDF, jp_date, man_yen, render, yen

SECTION_ORDER = ("liability_basic", "liability_recourse", "expense_basic", "expense_recourse")


def jp_moment(moment: datetime) -> str:
    t = moment.astimezone(TOKYO)
    half = "午前" if t.hour < 12 else "午後"
    hour = t.hour if t.hour <= 12 else t.hour - 12
    minute = f"{t.minute}分" if t.minute else ""
    return f"{t.year}年{t.month}月{t.day}日 {half}{hour}時{minute}"


def _limit(amount: int) -> str:
    return f"{man_yen(amount)}（{yen(amount)}）" if man_yen(amount) != yen(amount) else yen(amount)


def _issuer_block(
    pdf: DocumentPDF, scheme: Any, issued_on: str, reference_label: str, reference: str
) -> None:
    x0 = pdf.w - pdf.r_margin - 80
    y = pdf.get_y()
    for label, value in (("発行日", issued_on), (reference_label, reference)):
        pdf.set_xy(x0, y)
        pdf.write_font(SANS, 8, MUTED)
        pdf.safe_cell(20, 5, label)
        pdf.write_font(SANS, 7.8 if len(value) > 20 else 8.3, INK)
        pdf.safe_cell(60, 5, value, align="R")
        y += 5


def _footer_contact(pdf: DocumentPDF, scheme: Any) -> None:
    pdf.ln(4)
    pdf.write_font(SANS, 8.8, ACCENT)
    pdf.safe_cell(0, 5, f"お問い合わせ先　{scheme_name(scheme)}", new_x="LMARGIN", new_y="NEXT")
    for line in contact_lines(scheme):
        pdf.para(line, size=8.6, indent=4)


def render_certificate_pdf(doc: dict[str, Any]) -> bytes:
    f, scheme, issued_at = doc["facts"], doc["scheme"], doc["issued_at"]
    name = scheme_name(scheme)
    pdf = DocumentPDF(
        title=f"加入者証 {f['reference']} 第{f['period']}期",
        subject="Certificate of cover",
        created_at=issued_at,
        footer=f"加入者証　{f['reference']}　{name}",
    )
    pdf.add_page()
    pdf.title_block("加入者証", "Certificate of Cover — 個人情報漏えい賠償責任保険")
    top = pdf.get_y()
    _issuer_block(pdf, scheme, jp_date(issued_at.astimezone(TOKYO)), "加入者証番号", f["reference"])
    pdf.set_y(top)
    holder = f["holder"]
    pdf.write_font(SERIF, 13)
    pdf.bold_cell(100, 8, f"{holder.get('name', '')}　様", new_x="LMARGIN", new_y="NEXT")
    pdf.write_font(SANS, 8.5, MUTED)
    pdf.safe_cell(100, 5, f"会員番号 {f['member_number']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + 14) + 3)
    pdf.para(
        f"下記のとおり、{name}にご加入いただいていることを証明します。"
        "保険金をお支払いする条件は、制度の約款・特約に定めるところによります。",
        size=9.2,
    )
    if f["lapsed_at"] is not None:
        pdf.note_box(
            "ご注意　この保険期間の保険料が口座振替により収納できなかったため、"
            f"{jp_moment(f['lapsed_at'])}にさかのぼって補償は失効しています。"
        )
    elif f["cancelled_at"] is not None:
        pdf.note_box(f"ご注意　このご加入は{jp_moment(f['cancelled_at'])}をもって解約されています。")

    pdf.heading("ご加入者", number="1")
    rows = [["制度名", name], ["加入者（被保険者）", holder.get("name", "")]]
    if holder.get("representative"):
        rows.append(["代表者", holder["representative"]])
    if holder.get("address"):
        rows.append(["所在地", holder["address"]])
    rows += [["会員番号", f["member_number"]], ["業種", labels.industry(f["industry"])]]
    if f.get("annual_sales") is not None:
        rows.append(["年間売上高（申告）", yen(f["annual_sales"])])
    pdf.ruled_table(rows, [50, 124], label_column=True, size=9)

    pdf.heading("保険期間", number="2")
    pdf.ruled_table(
        [
            ["保険期間", f"{jp_moment(f['start'])} から {jp_moment(f['end'])} まで（{f['months']}か月）"],
            ["加入区分", f"{labels.ENROLLMENT.get(f['enrollment'], f['enrollment'])}（第{f['period']}期）"],
        ],
        [50, 124],
        label_column=True,
        size=9,
    )

    pdf.heading("ご契約内容（支払限度額）", number="3")
    pdf.ruled_table(
        [
            [labels.SECTIONS[s], _limit(f["limits"][s]), _limit(f["limits"][s])]
            for s in SECTION_ORDER
            if s in f["limits"]
        ],
        [58, 58, 58],
        header=["補償", "1事故あたり支払限度額", "保険期間中の支払限度額"],
        align=["L", "R", "R"],
        size=9,
    )
    pdf.ln(1.5)
    rider = (
        "付帯あり（ホームページの運営・電子メールの送受信に起因する事故。賠償損害の支払限度額の内枠でお支払い）"
        if f["network_rider"]
        else "付帯なし（ホームページの運営・電子メールの送受信に起因する事故は補償の対象外です）"
    )
    pdf.ruled_table(
        [
            ["プラン", f"{f['plan']}プラン"],
            ["免責金額", f"1事故につき {yen(f['deductible'])}（損害の生じた補償ごと）"],
            [
                "費用損害（基本リスク）",
                f"（損害の額 − 免責金額）× {f['coinsurance_percent']}% を支払限度額の範囲内でお支払い",
            ],
            ["見舞金・見舞品購入費用", f"個人情報1件（1名）につき {yen(f['condolence_cap'])} を限度"],
            ["ネットワーク危険担保特約", rider],
        ],
        [50, 124],
        label_column=True,
        size=9,
    )

    pdf.heading("保険料", number="4")
    pdf.ruled_table(
        [
            ["年間保険料", yen(f["annual_premium"])],
            ["今回の保険料", f"{yen(f['premium'])}（年払い・口座振替）"],
            ["口座振替日", jp_date(f["debit_date"])],
            ["適用料率", f["tariff_version"]],
        ],
        [50, 124],
        label_column=True,
        size=9,
    )

    pdf.heading("引受保険会社（共同保険）", number="5")
    pdf.ruled_table(
        [
            [("幹事　" if i == 0 else "") + c["name"], f"{c['share_bp'] / 100:g}%"]
            for i, c in enumerate(f["coinsurers"])
        ],
        [124, 50],
        header=["保険会社", "引受割合"],
        align=["L", "R"],
        size=9,
    )
    pdf.para(
        "本制度は複数の保険会社による共同保険契約です。各保険会社は引受割合に応じて連帯することなく"
        "単独別個に保険契約上の責任を負います。幹事会社が他の保険会社を代理・代行します。",
        size=8,
        color=MUTED,
    )
    _footer_contact(pdf, scheme)
    return render(pdf)


def render_payment_advice_pdf(doc: dict[str, Any]) -> bytes:
    claim, policy, scheme = doc["claim"], doc["policy"], doc["scheme"]
    settlement = doc["settlement"]
    name = scheme_name(scheme)
    pdf = DocumentPDF(
        title=f"保険金支払通知書 {doc['claim_reference']} 第{doc['payment_number']}回",
        subject="Claim payment advice",
        created_at=doc["paid_at"],
        footer=f"保険金支払通知書　{doc['claim_reference']}　第{doc['payment_number']}回　{name}",
    )
    pdf.add_page()
    pdf.title_block("保険金支払通知書", "Notice of Claim Payment — 個人情報漏えい賠償責任保険")
    top = pdf.get_y()
    _issuer_block(pdf, scheme, jp_date(doc["paid_at"].astimezone(TOKYO)), "事故番号", doc["claim_reference"])
    pdf.set_y(top)
    pdf.write_font(SERIF, 13)
    pdf.bold_cell(100, 8, f"{policy.holder.get('name', '')}　様", new_x="LMARGIN", new_y="NEXT")
    pdf.write_font(SANS, 8.5, MUTED)
    pdf.safe_cell(100, 5, f"会員番号 {policy.member_number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + 14) + 3)
    pdf.para(
        "このたびの事故につきまして、心よりお見舞い申し上げます。"
        f"ご請求いただいた損害について、下記のとおり保険金（第{doc['payment_number']}回）をお支払いいたします。",
        size=9.2,
    )

    pdf.heading("事故の内容", number="1")
    pdf.ruled_table(
        [
            ["制度名", name],
            ["加入者証番号", doc["policy_reference"]],
            ["保険期間", f"{jp_moment(doc['period'].start)} から {jp_moment(doc['period'].end)} まで"],
            ["事故の原因", labels.CAUSES.get(claim.cause, claim.cause)],
            ["発生日時", jp_moment(claim.occurred_at)],
            ["発見日時", jp_moment(claim.discovered_at)],
            ["漏えい等の件数", f"{claim.records_affected:,}件"],
        ],
        [50, 124],
        label_column=True,
        size=9,
    )

    pdf.heading("お支払額の計算", number="2")
    sections = [settlement["sections"][s] for s in SECTION_ORDER if settlement["sections"][s]["gross_loss"]]
    header = ["補償", "損害額", "見舞金限度超過", "免責金額", "縮小支払分", "支払限度", "今回お支払額"]
    rows = []
    for s in sections:
        rows.append(
            [
                labels.SECTIONS[s["section"]],
                yen(s["gross_loss"]),
                f"−{yen(s['condolence_cap_reduction'])}" if s["condolence_cap_reduction"] else "―",
                f"−{yen(s['deductible'])}" if s["deductible"] else "―",
                f"−{yen(s['coinsurance_reduction'])}\n（{100 - s['coinsurance_percent']}%）"
                if s["coinsurance_reduction"]
                else "―",
                labels.LIMITED_BY.get(s["limited_by"], "―")
                + (f"\n{yen(s['accident_limit'])}" if s["limited_by"] else ""),
                yen(s["paid"]),
            ]
        )
    pdf.ruled_table(
        rows, [25, 23, 22, 21, 24, 35, 24], header=header, align=["L", "R", "R", "R", "R", "L", "R"], size=7.6
    )
    pdf.ln(1)
    for s in sections:
        text = (
            f"{labels.SECTIONS[s['section']]}：損害額 {yen(s['gross_loss'])}"
            + (
                f"（うち見舞金・見舞品は1名あたり上限を超える {yen(s['condolence_cap_reduction'])} を除く）"
                if s["condolence_cap_reduction"]
                else ""
            )
            + f"、認定損害額 {yen(s['eligible'])} から免責金額 {yen(s['deductible'])} を差し引き"
            + (
                f"、{s['coinsurance_percent']}%（{yen(s['after_deductible'] - s['coinsurance_reduction'])}）"
                if s["coinsurance_reduction"]
                else ""
            )
            + f"、1事故あたり支払限度額 {yen(s['accident_limit'])}"
            + f"（既払 {yen(s['previously_paid_on_claim'])}）"
            + f"と保険期間中の残額 {yen(s['period_limit_remaining'])} の範囲で、"
            + f"{yen(s['paid'])} をお支払いします。"
        )
        pdf.para(text, size=8.2, bullet="・", indent=1)

    pdf.heading("お支払額", number="3")
    pdf.ruled_table(
        [
            ["今回お支払額", yen(doc["total"])],
            ["この事故の既払保険金", yen(doc["previously_paid"])],
            ["この事故のお支払累計", yen(doc["previously_paid"] + doc["total"])],
            ["お支払日", jp_date(doc["paid_at"].astimezone(TOKYO))],
        ],
        [60, 114],
        label_column=True,
        size=9.5,
    )
    pdf.para(
        "保険金はご登録の口座へお振り込みいたします。お支払いの内容についてご不明な点がございましたら、"
        "下記までお問い合わせください。",
        size=8.6,
    )
    _footer_contact(pdf, scheme)
    return render(pdf)
