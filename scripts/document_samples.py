"""Make the sample documents shown in the README: one assessment report, one certificate of
cover, one payment advice, built on the in-memory store with a fixed clock, each PDF written to
docs/samples/ and its first page rendered (PDFium) to docs/*.png.

    .venv/bin/python scripts/document_samples.py
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path

import pypdfium2 as pdfium

from policy_core.application import PolicyAdministration
from policy_core.documents.assessment_report import render_assessment_pdf, report_context
from policy_core.documents.certificate import render_certificate_pdf, render_payment_advice_pdf
from policy_core.risk.questionnaire import questionnaire_in_force
from policy_core.scheme import load_scheme

DOCS = Path(__file__).resolve().parent.parent / "docs"
NOW = datetime(2026, 8, 20, 3, 0, tzinfo=UTC)
BANK = {
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "ordinary",
    "account_number": "1234567",
    "holder_kana": "ﾔﾏﾀﾞ ｲﾝｻﾂ(ｶ",
}


def main() -> None:
    app = PolicyAdministration(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)
    q = questionnaire_in_force(NOW.date())
    rnd = random.Random(15)
    aid = None
    for i in range(6):
        answers = {x.id: rnd.choice("aabbc") for x in q.questions}
        aid = app.assess_risk(
            scheme="chuokai",
            member_number=f"C-{1000 + i}",
            business={"industry": "printing", "employees": 24, "records_held": 3000},
            answers=answers,
            assessed_on=date(2026, 8, 19),
        )
    a = app.get_risk_assessment(aid)
    report = render_assessment_pdf(
        report_context(
            a, scheme=load_scheme(a.scheme), average=app.scheme_risk_average(a), recorded_at=a.created_on
        )
    )
    pid = app.apply(
        scheme="chuokai",
        member_number="C-1005",
        holder={"name": "山田印刷株式会社", "representative": "代表取締役 山田太郎"},
        industry="printing",
        annual_sales=200_000_000,
        plan="B",
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    app.activate(pid, 1)
    p = app.get_policy(pid).period(1)
    app.record_debit_success(pid, 1, attempt=1, amount=p.premium, debit_date=p.debit_date, reference="r1")
    cid = app.report_incident(
        policy_id=pid,
        occurred_at=datetime(2026, 6, 1, 10, tzinfo=UTC),
        discovered_at=datetime(2026, 6, 3, 10, tzinfo=UTC),
        cause="insider",
        records_affected=3000,
        description="",
    )
    app.assess_losses(
        cid,
        [
            {"category": "damages", "risk": "basic", "amount": 37_000_000},
            {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
            {"category": "condolence", "risk": "basic", "amount": 1_000_000, "recipients": 2000},
            {"category": "advertising", "risk": "basic", "amount": 5_000_000},
        ],
    )
    app.pay_claim(cid)
    certificate = render_certificate_pdf(app.certificate_of_cover(pid, period=1))
    advice = render_payment_advice_pdf(app.payment_advice(cid, 1))
    (DOCS / "samples").mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("risk-assessment-report", report),
        ("certificate-of-cover", certificate),
        ("payment-advice", advice),
    ):
        (DOCS / "samples" / f"{name}.pdf").write_bytes(data)
        doc = pdfium.PdfDocument(data)
        doc[0].render(scale=1.2).to_pil().convert("RGB").save(DOCS / f"{name}.png", optimize=True)
        doc.close()
        print(f"docs/{name}.png", f"docs/samples/{name}.pdf", len(data), "bytes")


if __name__ == "__main__":
    main()
