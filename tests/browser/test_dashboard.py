"""The dashboard in a real browser: Chromium (Playwright) against `policy-admin serve` on PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest

from tests.browser.conftest import HOLDERS, KEYS, SHOTS, bearer, sign_in

pytestmark = pytest.mark.postgres

FIGURES = {  # overview figure id -> the JSON portfolio report's field
    "policies_in_force": "participants",
    "new_business": "new_policies",
    "renewals": "renewals",
    "written_premium": "written_premium",
    "collected_premium": "collected_premium",
    "return_premium": "return_premium",
    "claims_reported": "claims_reported",
    "claims_paid_count": "claims_paid",
    "claims_denied": "claims_denied",
    "claims_paid_amount": "paid_total",
    "outstanding_reserve": "outstanding_reserve_yen",
    "incurred": "incurred_yen",
    "recoveries_due": "recoveries_due_yen",
}


def table_values(page, table_id: str) -> list[list[str]]:
    """The raw values (``data-value``) of a table's body cells."""
    return page.eval_on_selector_all(
        f"#table-{table_id} tbody tr",
        "rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(td => td.dataset.value))"
        ".filter(r => r.every(v => v !== undefined))",
    )


def test_sign_in_with_each_role_and_refuse_a_wrong_key(server, browser):
    for role in KEYS:
        context, page = sign_in(browser, server["base"], role)
        assert page.locator("header .who strong").inner_text() == role
        cookie = next(c for c in context.cookies() if c["name"] == "pa_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
        page.click("form[action='/dashboard/sign-out'] button")
        page.wait_for_url("**/dashboard/sign-in**")
        page.goto("/dashboard/collections")
        assert "/dashboard/sign-in" in page.url  # signed out
        context.close()
    context = browser.new_context(base_url=server["base"])
    page = context.new_page()
    page.goto("/dashboard/sign-in")
    page.fill("#api_key", "not-a-key-at-all")
    with page.expect_response("**/dashboard/sign-in") as answer:
        page.click("form[action='/dashboard/sign-in'] button[type=submit]")
    assert answer.value.status == 401
    assert page.locator("#sign-in-error").is_visible()
    assert not [c for c in context.cookies() if c["name"] == "pa_session"]
    page.screenshot(path=str(SHOTS / "sign-in-refused.png"), full_page=True)
    # A form posted without its CSRF token is refused too, with the right key.
    r = page.request.post("/dashboard/sign-in", form={"api_key": KEYS["operator"]}, max_redirects=0)
    assert r.status == 401 and not [c for c in context.cookies() if c["name"] == "pa_session"]
    context.close()


def test_bearer_header_on_every_page(server):
    api = server["api"]
    pid = server["made"]["policies"][("chuokai", 0)]
    for path in (
        "/dashboard",
        "/dashboard/collections",
        "/dashboard/claims",
        "/dashboard/limits",
        f"/dashboard/policies/{pid}",
        f"/dashboard/claims/{server['made']['claims'][0]}",
    ):
        r = api.get(path, headers=bearer("dashboard"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert api.get(path, headers={"Authorization": "Bearer wrong-key-123"}).status_code == 401
        assert api.get(path, follow_redirects=False).status_code == 303


@pytest.mark.parametrize("scheme", ["chuokai", "jcci"])
def test_overview_figures_equal_the_json_report_and_drill_through_to_a_timeline(server, browser, scheme):
    api = server["api"]
    report = api.get(
        f"/api/v1/reports/portfolio?scheme={scheme}&year=2026", headers=bearer("dashboard")
    ).json()
    context, page = sign_in(browser, server["base"], "dashboard")
    page.goto(f"/dashboard?scheme={scheme}&year=2026")
    assert page.locator("html").get_attribute("lang") == "ja"
    for fig, field in FIGURES.items():
        assert page.locator(f"#fig-{fig} td").get_attribute("data-value") == str(report[field]), fig
    shown = page.locator("#fig-collected_premium td").inner_text()
    assert shown == f"¥{report['collected_premium']:,}"
    assert float(page.locator("#fig-loss_ratio_paid td").get_attribute("data-value")) == report["loss_ratio"]
    coins = table_values(page, "coinsurers")
    assert [int(r[2]) for r in coins] == [c["written_premium"] for c in report["coinsurers"]]
    assert [int(r[6]) for r in coins] == [c["paid_total"] for c in report["coinsurers"]]
    assert page.locator("figure.chart svg").count() == 1
    # The chart's premium by month (kept per month of debit) adds up to the premium collected.
    assert sum(int(r[1]) for r in table_values(page, "monthly")) == report["collected_premium"]
    counts = {
        s: int(page.locator(f"#fig-{fig} td").get_attribute("data-value"))
        for fig, s in (("lapses", "lapsed"), ("cancellations", "cancelled"), ("renewals", "renewal"))
    }
    page.screenshot(path=str(SHOTS / f"overview-{scheme}.png"), full_page=True)
    # Drill-through: policies in force -> the list (as many rows as the figure) -> a policy's timeline.
    page.click("#fig-policies_in_force a")
    assert page.locator("#total").get_attribute("data-value") == str(report["participants"])
    assert len(table_values(page, "policies")) == report["participants"]
    page.screenshot(path=str(SHOTS / f"policies-{scheme}.png"), full_page=True)
    page.locator("#table-policies tbody tr td a").first.click()
    page.wait_for_url("**/dashboard/policies/*")
    events = [r[2] for r in table_values(page, "timeline")]
    assert events[0] == "申込" and "補償開始" in events
    page.screenshot(path=str(SHOTS / f"policy-{scheme}.png"), full_page=True)
    # The counts kept by the portfolio view equal the lists behind them (selected from the periods).
    for set_name, count in counts.items():
        page.goto(f"/dashboard/policies?scheme={scheme}&year=2026&set={set_name}")
        assert page.locator("#total").get_attribute("data-value") == str(count), set_name
    assert counts["lapsed"] >= 1 and (scheme != "chuokai" or counts["cancelled"] >= 1)
    context.close()


def test_collections_claims_limits_equal_the_json_reports(server, browser):
    api = server["api"]
    context, page = sign_in(browser, server["base"], "auditor")
    for scheme in ("chuokai", "jcci"):
        collections = api.get(
            f"/api/v1/reports/collections?scheme={scheme}", headers=bearer("auditor")
        ).json()
        page.goto(f"/dashboard/collections?scheme={scheme}")
        lapses = table_values(page, "lapses")
        assert sorted(r[0] for r in lapses) == sorted(x["policy_id"] for x in collections["lapses"])
        assert [int(r[3]) for r in lapses] == [x["unpaid_premium"] for x in collections["lapses"]]
        arrears = table_values(page, "arrears")
        assert [r[0] for r in arrears] == [x["policy_id"] for x in collections["arrears"]]
        runs = table_values(page, "last_runs")
        assert runs and {r[1] for r in runs} >= {"0"}
        page.screenshot(path=str(SHOTS / f"collections-{scheme}.png"), full_page=True)
    page.goto("/dashboard/collections?scheme=chuokai")
    assert "1 資金不足" in page.locator("#table-last_runs").inner_text()
    claims = api.get("/api/v1/claims", headers=bearer("auditor")).json()["items"]
    page.goto("/dashboard/claims?scheme=chuokai")
    largest = table_values(page, "largest")
    paid = {c["id"]: c["paid_total"] for c in claims}
    assert [int(r[8]) for r in largest] == [paid[r[0]] for r in largest]
    assert sum(int(r[1]) for r in table_values(page, "paid_by_section")) == sum(
        paid[c] for c in paid if c in {r[0] for r in largest}
    )
    page.screenshot(path=str(SHOTS / "claims-chuokai.png"), full_page=True)
    page.goto("/dashboard/limits?scheme=chuokai")
    under = table_values(page, "limits_under")
    pid = server["made"]["policies"][("chuokai", 0)]
    limits = api.get(f"/api/v1/policies/{pid}/limits", headers=bearer("auditor")).json()
    assert [r[0] for r in under] == [pid] and under[0][4] == "expense_basic"
    assert int(under[0][7]) == limits["sections"]["expense_basic"]["remaining"]
    page.screenshot(path=str(SHOTS / "limits-chuokai.png"), full_page=True)
    # The claim page: payment explanation and timeline.
    page.goto(f"/dashboard/claims/{server['made']['claims'][0]}?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    steps = page.locator("#table-payments ol.steps").first.inner_text()
    assert "deductible" in steps
    assert "Claim paid" in page.locator("#table-timeline").inner_text()
    page.screenshot(path=str(SHOTS / "claim.png"), full_page=True)
    context.close()


def test_a_csv_download_equals_the_table(server, browser):
    context, page = sign_in(browser, server["base"], "dashboard", accept_downloads=True)
    page.goto("/dashboard?scheme=chuokai&year=2026")
    with page.expect_download() as dl:
        page.click("#cap-coinsurers a.csv")
    raw = open(dl.value.path(), "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    headers = page.eval_on_selector_all("#table-coinsurers thead th", "ths => ths.map(t => t.innerText)")
    assert rows[0] == headers
    assert rows[1:] == table_values(page, "coinsurers")
    context.close()


def test_the_dashboard_role_sees_no_holder_name(server, browser):
    made = server["made"]
    pages = [
        "/dashboard?scheme=chuokai",
        "/dashboard?scheme=jcci",
        "/dashboard/collections?scheme=chuokai",
        "/dashboard/claims?scheme=chuokai",
        "/dashboard/limits?scheme=chuokai",
        "/dashboard/policies?scheme=chuokai",
        "/dashboard/policies?scheme=jcci",
        *(f"/dashboard/policies/{pid}" for pid in made["policies"].values()),
        *(f"/dashboard/claims/{cid}" for cid in made["claims"]),
    ]
    context, page = sign_in(browser, server["base"], "dashboard")
    for path in pages:
        page.goto(path)
        html = page.content()
        assert not [n for n in HOLDERS if n in html], path
        assert "customer list" not in html  # nor a claim's description
    context.close()
    context, page = sign_in(browser, server["base"], "operator")
    page.goto(f"/dashboard/policies/{made['policies'][('chuokai', 0)]}")
    assert page.locator("#holder-name").inner_text() == HOLDERS[0]
    pid = made["policies"][("chuokai", 0)]
    number = server["api"].get(f"/api/v1/policies/{pid}", headers=bearer("operator")).json()["number"]
    assert number and page.locator("#policy-number").inner_text() == number
    context.close()


def test_works_with_javascript_disabled(server, browser):
    context, page = sign_in(browser, server["base"], "dashboard", java_script_enabled=False)
    page.goto("/dashboard")
    page.select_option("#sel-scheme", "jcci")
    page.click("form.selector button[type=submit]")
    page.wait_for_url("**scheme=jcci**")
    assert page.locator("#fig-policies_in_force td").inner_text().strip() != ""
    assert page.locator("figure.chart svg").count() == 1 and page.locator("script").count() == 0
    page.click("#fig-policies_in_force a")
    page.wait_for_url("**/dashboard/policies?**")
    assert len(table_values(page, "policies")) >= 1
    page.goto("/dashboard?scheme=chuokai&year=2026&lang=en")
    page.screenshot(path=str(SHOTS / "overview-en.png"), full_page=True)
    context.close()
