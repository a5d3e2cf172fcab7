"""Certificate of cover and payment advice over HTTP for both schemes: the PDFs' text (PDFium),
fonts embedded and no missing glyph, identical when re-issued, errors."""

from __future__ import annotations

from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION
from tests.pdfcheck import assert_renders_without_missing_glyphs, pdf_text

OP, AU = auth("operator"), auth("auditor")
ITEMS = [
    {"category": "damages", "risk": "basic", "amount": 37_000_000},
    {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
    {"category": "condolence", "risk": "basic", "amount": 1_500_000, "recipients": 2000},
    {"category": "advertising", "risk": "basic", "amount": 5_000_000},
]


def flat(text: str) -> str:
    return text.replace("\n", "").replace("\f", "")


def insured_paid_claim(client, application):
    r = client.post("/api/v1/policies", headers=OP, json=application)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": "2026-06-30T12:00:00+09:00"})
    assert r.status_code == 200 and r.json()["debited"] == 1, r.text
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": "2026-07-01T10:00:00+09:00",
            "discovered_at": "2026-07-03T10:00:00+09:00",
            "cause": "insider",
            "records_affected": 3000,
            "description": "顧客名簿の持ち出し",
        },
    )
    cid = r.json()["id"]
    assert client.post(f"/api/v1/claims/{cid}/losses", headers=OP, json={"items": ITEMS}).status_code == 200
    r = client.post(f"/api/v1/claims/{cid}/payments", headers=OP)
    assert r.status_code == 201, r.text
    return pid, cid, r.json()["payment"]


def test_chuokai_certificate_and_payment_advice(client):
    pid, cid, payment = insured_paid_claim(client, APPLICATION)
    assert payment["total"] == 43_900_000
    r = client.get(f"/api/v1/policies/{pid}/certificate.pdf", headers=AU)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    cert = r.content
    text = flat(pdf_text(cert))
    for needle in (
        "加入者証",
        "山田印刷株式会社",
        "会員番号 M-100",
        "中央会 個人情報漏えい賠償責任保険",
        "5,000万円（50,000,000円）",  # liability limits of plan B, per accident and per period
        "500万円（5,000,000円）",
        "2026年3月25日 午後4時 から 2027年3月25日 午後4時 まで",
        "100,000円",  # deductible and the premium
        "90%",
        "1名）につき 500円",
        "付帯なし",
        "2026年4月27日",  # the debit date (25 April 2026 is a Saturday)
        "幹事　Leading insurer (幹事会社)",
        "40%",
        "全国中小企業団体中央会 総務部",
    ):
        assert needle in text, needle
    assert assert_renders_without_missing_glyphs(cert) >= 1
    # an event that changes nothing the certificate prints leaves it the same file
    r = client.post(
        f"/api/v1/policies/{pid}/sales-declarations",
        headers=OP,
        json={"annual_sales": 250_000_000, "declared_on": "2026-09-01"},
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/policies/{pid}/certificate.pdf?period=1", headers=AU).content == cert

    r = client.get(f"/api/v1/claims/{cid}/payments/1/advice.pdf", headers=AU)
    assert r.status_code == 200
    advice = r.content
    text = flat(pdf_text(advice))
    for needle in (
        "保険金支払通知書",
        "山田印刷株式会社",
        "従業者等による持ち出し",
        "3,000件",
        "39,000,000円",  # liability-basic loss: damages and defence costs
        "−100,000円",  # the deductible
        "−500,000円",  # condolence above 500 yen x 2,000 people
        "1事故あたりの支払限度額",  # the cap that bound expense-basic
        "38,900,000円",
        "5,000,000円",
        "43,900,000円",
    ):
        assert needle in text, needle
    assert "顧客名簿の持ち出し" not in text  # the claim's free text is not printed
    assert assert_renders_without_missing_glyphs(advice) >= 1
    assert client.get(f"/api/v1/claims/{cid}/payments/1/advice.pdf", headers=AU).content == advice

    # a change to what the certificate prints issues a new one; the old one stays readable as of then
    issued = client.get(f"/api/v1/policies/{pid}/events", headers=AU).json()["items"][-1]["recorded_at"]
    r = client.post(
        f"/api/v1/policies/{pid}/cancellation",
        headers=OP,
        json={"effective_date": "2026-10-01", "reason": "business closed"},
    )
    assert r.status_code == 200, r.text
    new = client.get(f"/api/v1/policies/{pid}/certificate.pdf?period=1", headers=AU).content
    assert new != cert and "2026年10月1日 午後4時をもって解約" in flat(pdf_text(new))
    old = client.get(
        f"/api/v1/policies/{pid}/certificate.pdf", headers=AU, params={"period": 1, "as_of": issued}
    )
    assert old.content == cert
    # the advice shows the payment as recorded: unchanged by the later cancellation
    assert client.get(f"/api/v1/claims/{cid}/payments/1/advice.pdf", headers=AU).content == advice


def test_jcci_certificate_with_the_network_rider(client):
    app = dict(APPLICATION, scheme="jcci", member_number="J-7", plan="A", network_rider=True)
    app["holder"] = {"name": "東京小売有限会社", "representative": "代表取締役 佐藤花子"}
    r = client.post("/api/v1/policies", headers=OP, json=app)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    cert = client.get(f"/api/v1/policies/{pid}/certificate.pdf", headers=AU).content
    text = flat(pdf_text(cert))
    for needle in (
        "日本商工会議所 個人情報漏えい賠償責任保険制度",
        "東京小売有限会社",
        "代表取締役 佐藤花子",
        "1,000万円（10,000,000円）",
        "100万円（1,000,000円）",
        "2026年4月1日 午後4時 から 2027年3月1日 午後4時 まで（11か月）",
        "中途加入",
        "付帯あり",
        "ご加入の商工会議所",
    ):
        assert needle in text, needle
    assert assert_renders_without_missing_glyphs(cert) >= 1


def test_document_errors(client):
    missing = "00000000-0000-0000-0000-000000000000"
    r = client.get(f"/api/v1/policies/{missing}/certificate.pdf", headers=AU)
    assert r.status_code == 404 and r.json()["type"].endswith(":policy_not_found")
    pid = client.post("/api/v1/policies", headers=OP, json=APPLICATION).json()["id"]
    r = client.get(f"/api/v1/policies/{pid}/certificate.pdf?period=2", headers=AU)
    assert r.status_code == 422 and r.json()["type"].endswith(":unknown_period")
    assert client.get(f"/api/v1/policies/{pid}/certificate.pdf?period=0", headers=AU).status_code == 422
    assert client.get(f"/api/v1/policies/{pid}/certificate.pdf", headers=auth("dashboard")).status_code == 403
    r = client.get(f"/api/v1/claims/{missing}/payments/1/advice.pdf", headers=AU)
    assert r.status_code == 404 and r.json()["type"].endswith(":claim_not_found")
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": "2026-04-01T10:00:00+09:00",
            "discovered_at": "2026-04-02T10:00:00+09:00",
            "cause": "lost_media",
            "records_affected": 10,
        },
    )
    cid = r.json()["id"]
    r = client.get(f"/api/v1/claims/{cid}/payments/1/advice.pdf", headers=AU)
    assert r.status_code == 404 and r.json()["type"].endswith(":payment_not_found")
    # as of before the policy was recorded
    r = client.get(
        f"/api/v1/policies/{pid}/certificate.pdf", headers=AU, params={"as_of": "2001-01-01T00:00:00+09:00"}
    )
    assert r.status_code == 404
