"""Labels (Japanese by default, ``?lang=en`` for English) and the formats of yen, dates, ratios.

Amounts are shown as ``¥1,234,567``; dates in Japanese style (``2026年4月27日``) or English
(``27 Apr 2026``), always in Asia/Tokyo.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from policy_core.calendar import TOKYO

LANGS = ("ja", "en")

LABELS: dict[str, tuple[str, str]] = {
    "title": ("個人情報漏えい賠償責任保険 ダッシュボード", "Leakage liability insurance dashboard"),
    "overview": ("概況", "Overview"),
    "collections": ("収納", "Collections"),
    "claims": ("事故・保険金", "Claims"),
    "limits": ("支払限度額", "Limits"),
    "policies": ("契約一覧", "Policies"),
    "claim_list": ("事故一覧", "Claims list"),
    "sign_in": ("サインイン", "Sign in"),
    "sign_out": ("サインアウト", "Sign out"),
    "api_key": ("APIキー", "API key"),
    "wrong_key": ("APIキーが正しくありません。", "That API key is not valid."),
    "csrf_failed": (
        "フォームの有効期限が切れました。もう一度お試しください。",
        "The form expired; try again.",
    ),
    "signed_in_as": ("ロール", "Role"),
    "scheme": ("制度", "Scheme"),
    "year": ("制度年度", "Scheme year"),
    "show": ("表示", "Show"),
    "language": ("English", "日本語"),
    "jcci": ("日本商工会議所 (JCCI)", "JCCI"),
    "chuokai": ("中小企業団体中央会", "Chuo-kai"),
    "as_of": ("計算時点", "Computed"),
    "log_position": ("イベントログ位置", "event log position"),
    "of_head": ("先頭", "head"),
    "lag_warning": (
        "集計が最新のイベントに追いついていません（{n}件・{s}秒の遅れ）。数値は古い可能性があります。",
        "The projections lag the event log ({n} events, {s} s behind): figures may be out of date.",
    ),
    "no_data": ("この制度・年度のデータはまだありません。", "No data for this scheme and year yet."),
    "csv": ("CSVダウンロード", "Download CSV"),
    "figures": ("主要指標", "Key figures"),
    "figure": ("指標", "Figure"),
    "value": ("値", "Value"),
    "policies_in_force": ("有効契約数", "Policies in force"),
    "new_business": ("新規契約", "New business"),
    "renewals": ("更新契約", "Renewals"),
    "lapses": ("失効", "Lapses"),
    "cancellations": ("解約", "Cancellations"),
    "written_premium": ("計上保険料", "Written premium"),
    "collected_premium": ("収納保険料", "Collected premium"),
    "return_premium": ("返戻保険料", "Return premium"),
    "earned_premium": ("経過保険料（月割）", "Earned premium (pro rata by month)"),
    "claims_paid_amount": ("支払保険金", "Claims paid"),
    "claims_reported": ("事故報告件数", "Claims reported"),
    "claims_paid_count": ("支払済事故件数", "Claims with payments"),
    "claims_denied": ("不支払件数", "Claims denied"),
    "loss_ratio_paid": ("損害率（支払・収納保険料比）", "Loss ratio (paid / collected)"),
    "outstanding_reserve": ("支払備金（未払）", "Outstanding reserves"),
    "incurred": ("発生保険金（支払＋備金）", "Incurred (paid + reserves)"),
    "recoveries_due": ("回収予定額", "Recoveries due"),
    "loss_ratio_incurred": ("損害率（発生・収納保険料比）", "Loss ratio (incurred / collected)"),
    "loss_ratio_earned": ("損害率（支払・経過保険料比）", "Loss ratio (paid / earned)"),
    "coinsurers": ("引受保険会社別シェア", "Co-insurers' shares"),
    "coinsurer": ("保険会社", "Co-insurer"),
    "share": ("シェア", "Share"),
    "mix": ("プラン・業種別", "By plan and industry"),
    "plan": ("プラン", "Plan"),
    "industry": ("業種", "Industry"),
    "periods_written": ("計上件数", "Periods written"),
    "chart": ("月別 収納保険料と支払保険金", "Premium collected and claims paid by month"),
    "chart_data": (
        "月別 収納保険料と支払保険金（グラフの数値）",
        "Premium and claims by month (the chart's figures)",
    ),
    "month": ("月", "Month"),
    "premium_collected": ("収納保険料", "Premium collected"),
    "claims_paid_month": ("支払保険金（最終支払月）", "Claims paid (month of last payment)"),
    "next_debits": ("次回口座振替予定", "Next direct debits"),
    "debit_date": ("振替日", "Debit date"),
    "count": ("件数", "Count"),
    "amount_due": ("請求額", "Amount due"),
    "amount": ("金額", "Amount"),
    "last_runs": ("直近の振替結果（全銀結果コード別）", "Last debit runs by Zengin result code"),
    "result_code": ("結果コード", "Result code"),
    "result": ("結果", "Result"),
    "arrears_by_attempt": ("未収（振替不能回数別）", "Arrears by failed attempts"),
    "failed_attempts": ("振替不能回数", "Failed attempts"),
    "outstanding": ("未収額", "Outstanding"),
    "arrears": ("未収契約", "Policies in arrears"),
    "lapse_list": ("失効契約", "Lapsed policies"),
    "policy": ("契約", "Policy"),
    "claim": ("事故", "Claim"),
    "period": ("保険期間", "Period"),
    "next_debit_date": ("次回振替日", "Next debit"),
    "last_result": ("最終結果", "Last result"),
    "effective_at": ("効力発生", "Effective"),
    "unpaid_premium": ("未収保険料", "Unpaid premium"),
    "open_by_status_age": ("未決事故（状態・経過日数別）", "Open claims by status and age"),
    "status": ("状態", "Status"),
    "age": ("経過日数", "Age (days)"),
    "by_cause": ("原因別", "By cause"),
    "cause": ("原因", "Cause"),
    "by_industry": ("業種別", "By industry"),
    "open": ("未決", "Open"),
    "paid_by_section": ("補償区分別 支払保険金", "Claims paid by section"),
    "section": ("補償区分", "Section"),
    "largest": ("高額事故", "Largest claims"),
    "paid_total": ("支払額", "Paid"),
    "assessed_loss": ("損害額", "Assessed loss"),
    "discovered_on": ("発見日", "Discovered"),
    "limits_under": ("残存限度額が{t}%未満の契約", "Policies with under {t}% of a limit remaining"),
    "threshold": ("しきい値（%）", "Threshold (%)"),
    "limit": ("限度額", "Limit"),
    "paid": ("支払済", "Paid"),
    "remaining": ("残額", "Remaining"),
    "remaining_ratio": ("残存率", "Remaining"),
    "member_number": ("会員番号", "Member number"),
    "number": ("番号", "Number"),
    "holder": ("契約者名", "Policyholder"),
    "premium": ("保険料", "Premium"),
    "collected": ("収納済", "Collected"),
    "start": ("始期", "Start"),
    "end": ("終期", "End"),
    "months": ("月数", "Months"),
    "periods": ("保険期間の履歴", "Periods"),
    "limits_current": ("支払限度額（現在の保険期間）", "Limits (current period)"),
    "payments": ("保険金支払と計算の説明", "Payments and their explanation"),
    "payment": ("支払回", "Payment"),
    "explanation": ("計算の説明", "Explanation"),
    "timeline": ("イベント履歴", "Timeline of events"),
    "recorded_at": ("記録日時", "Recorded"),
    "event": ("イベント", "Event"),
    "details": ("内容", "Details"),
    "actor": ("操作者", "Actor"),
    "losses": ("損害項目", "Loss items"),
    "category": ("項目", "Category"),
    "risk": ("区分", "Risk"),
    "rows_total": ("{n}件", "{n} rows"),
    "next_page": ("次へ", "Next"),
    "prev_page": ("前へ", "Previous"),
    "skip": ("本文へ移動", "Skip to content"),
    "yes": ("はい", "yes"),
    "no": ("いいえ", "no"),
}

VALUES: dict[str, tuple[str, str]] = {
    "applied": ("申込", "applied"),
    "active": ("有効", "active"),
    "lapsed": ("失効", "lapsed"),
    "cancelled": ("解約", "cancelled"),
    "expired": ("満了", "expired"),
    "reported": ("報告済", "reported"),
    "assessed": ("査定済", "assessed"),
    "denied": ("不支払", "denied"),
    "closed": ("終了", "closed"),
    "debited": ("振替済", "debited"),
    "failed": ("振替不能", "failed"),
    "liability_basic": ("賠償責任（基本）", "liability (basic)"),
    "liability_recourse": ("賠償責任（求償）", "liability (recourse)"),
    "expense_basic": ("費用（基本）", "expenses (basic)"),
    "expense_recourse": ("費用（求償）", "expenses (recourse)"),
    "0": ("0 振替済", "0 debited"),
    "1": ("1 資金不足", "1 insufficient funds"),
    "2": ("2 取引なし", "2 no such account"),
    "3": ("3 預金者の都合による振替停止", "3 stopped by depositor"),
    "4": ("4 預金口座振替依頼書なし", "4 no direct-debit mandate"),
    "8": ("8 委託者の都合による振替停止", "8 stopped by collector"),
    "9": ("9 その他", "9 other"),
}

EVENTS: dict[str, tuple[str, str]] = {
    "Applied": ("申込", "Applied"),
    "Activated": ("補償開始", "Cover started"),
    "PremiumDebited": ("保険料振替済", "Premium debited"),
    "PremiumDebitFailed": ("保険料振替不能", "Premium debit failed"),
    "Lapsed": ("失効", "Lapsed"),
    "Renewed": ("更新", "Renewed"),
    "NonRenewalNoticeGiven": ("不更新の申出", "Non-renewal notice"),
    "RenewalNoticeIssued": ("更新案内", "Renewal notice issued"),
    "Expired": ("満了", "Expired"),
    "Cancelled": ("解約", "Cancelled"),
    "SalesDeclared": ("売上高申告", "Sales declared"),
    "ClaimRegistered": ("事故登録", "Claim registered"),
    "ClaimPaymentRecorded": ("保険金支払（限度額使用）", "Claim payment recorded"),
    "IncidentReported": ("事故報告", "Incident reported"),
    "LossesAssessed": ("損害査定", "Losses assessed"),
    "ClaimPaid": ("保険金支払", "Claim paid"),
    "ClaimDenied": ("不支払決定", "Claim denied"),
    "ClaimClosed": ("事故終了", "Claim closed"),
}


def pick_lang(value: str | None) -> str:
    return value if value in LANGS else "ja"


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = pick_lang(lang)
        self.i = 0 if self.lang == "ja" else 1

    def __call__(self, key: str, **kwargs: Any) -> str:
        pair = LABELS.get(key)
        text = pair[self.i] if pair else key
        return text.format(**kwargs) if kwargs else text

    def value(self, v: Any) -> str:
        if v is None:
            return "—"
        pair = VALUES.get(str(v))
        return pair[self.i] if pair else str(v)

    def event(self, name: str) -> str:
        pair = EVENTS.get(name)
        return pair[self.i] if pair else name

    # ------------------------------------------------------------------ formats
    def yen(self, v: Any) -> str:
        return "—" if v is None else f"¥{int(v):,}"

    def count(self, v: Any) -> str:
        return "—" if v is None else f"{int(v):,}"

    def pct(self, v: Any) -> str:
        return "—" if v is None else f"{float(v) * 100:.1f}%"

    def date(self, v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, datetime):
            v = v.astimezone(TOKYO).date()
        if not isinstance(v, date):
            return str(v)
        return f"{v.year}年{v.month}月{v.day}日" if self.lang == "ja" else f"{v.day} {v:%b} {v.year}"

    def datetime(self, v: Any) -> str:
        if v is None:
            return "—"
        local = v.astimezone(TOKYO)
        return f"{self.date(local.date())} {local:%H:%M}" + ("" if self.lang == "ja" else " JST")

    def month(self, v: Any) -> str:
        return f"{v.year}年{v.month}月" if self.lang == "ja" else f"{v:%b} {v.year}"
