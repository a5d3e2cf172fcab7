"""The operator's risk-diagnosis page in a real Chromium (Playwright) against a real server:
enter a paper checklist, see a refused incomplete one, the list with the change, the report."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from api.auth import parse_keys
from api.main import create_app
from policy_core.risk.questionnaire import all_questionnaires
from tests.e2e.conftest import KEYS

CHROMIUM = "/usr/bin/chromium"
Q = all_questionnaires()[-1]


@pytest.fixture
def server(runtime):
    spec = ",".join(f"{r}:{k}" for r, k in KEYS.items())
    app = create_app(runtime.settings, runtime=runtime, api_keys=parse_keys(spec))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_operator_enters_a_paper_checklist_and_reads_the_report(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server + "/dashboard/risk-assessments")
        expect(page.locator("#form")).to_be_hidden()
        page.fill("#key", KEYS["operator"])
        page.click("#connect")
        expect(page.locator("#hint")).to_contain_text(Q.version)
        assert page.locator("fieldset").count() == len(Q.areas)
        page.select_option("#scheme", "chuokai")
        page.fill("#member_number", "C-77")
        page.select_option("#industry", "printing")
        page.fill("#employees", "24")
        page.fill("#records_held", "3000")
        # every question but the last answered: refused, the unanswered one marked
        for q in Q.questions[:-1]:
            page.check(f'input[name="q:{q.id}"][value="b"]')
        page.click("#submit")
        expect(page.locator("#error")).to_contain_text(Q.questions[-1].id)
        expect(page.locator(f'[data-question="{Q.questions[-1].id}"]')).to_have_class("q missing")
        expect(page.locator("#list tbody tr")).to_have_count(0)
        page.check(f'input[name="q:{Q.questions[-1].id}"][value="b"]')
        page.click("#submit")
        expect(page.locator("#result")).to_contain_text("RA-CHUOKAI-000001")
        expect(page.locator("#list tbody tr")).to_have_count(1)
        # reassessment with every best answer: the list shows the change
        for q in Q.questions:
            page.check(f'input[name="q:{q.id}"][value="a"]')
        page.click("#submit")
        expect(page.locator("#result")).to_contain_text("総合評価 A")
        expect(page.locator("#list tbody tr")).to_have_count(2)
        expect(page.locator("#list tbody tr").first).to_contain_text("+50（C→A）")
        report = page.frame_locator("#report")
        expect(report.locator("h1")).to_have_text("個人情報管理リスク評価報告書")
        expect(report.locator("[data-testid=overall-grade]")).to_contain_text("A")
        for area in Q.areas:
            expect(report.locator(f'section[data-area="{area.key}"] h3')).to_contain_text(area.title)
        with (
            page.expect_popup() as popup,
            page.expect_response(lambda r: r.url.endswith("report.pdf")) as pdf,
        ):
            report.locator("a", has_text="PDF版").click()
        assert pdf.value.status == 200 and pdf.value.headers["content-type"] == "application/pdf"
        popup.value.close()
        page.click("#list tbody tr:nth-child(2) button")
        expect(report.locator("[data-testid=overall-grade]")).to_contain_text("C")
        browser.close()


def test_the_page_shows_nothing_without_a_key(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server + "/dashboard/risk-assessments")
        page.fill("#key", "wrong-key")
        page.click("#connect")
        expect(page.locator("#hint")).to_contain_text("401")
        expect(page.locator("#form")).to_be_hidden()
        browser.close()
