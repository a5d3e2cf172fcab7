"""Japanese wording of the keys the documents print (industries, sections, causes, enrollment)."""

from __future__ import annotations

INDUSTRIES = {
    "construction": "建設業",
    "printing": "印刷業",
    "retail": "小売業",
    "restaurant": "飲食店",
    "lodging": "宿泊業",
    "real_estate_leasing": "貸家・貸店舗業",
    "clinic": "医院・診療所",
    "rental_store": "レンタル店",
    "car_repair": "自動車整備業",
    "wholesale": "卸売業",
    "manufacturing": "製造業",
    "information_services": "情報サービス業",
    "professional_services": "専門サービス業",
    "education": "教育・学習支援業",
    "finance_insurance": "金融・保険業",
    "other": "その他",
}

SECTIONS = {
    "liability_basic": "賠償損害　基本リスク",
    "liability_recourse": "賠償損害　求償リスク",
    "expense_basic": "費用損害　基本リスク",
    "expense_recourse": "費用損害　求償リスク",
}

CAUSES = {
    "lost_media": "伝票・媒体の紛失",
    "theft": "盗難",
    "unauthorized_access": "外部からの不正アクセス",
    "malware": "ウイルス感染",
    "insider": "従業者等による持ち出し",
    "outsourcee": "委託先からの漏えい",
    "misdelivery": "誤送付",
    "improper_disposal": "誤廃棄・不適切な廃棄",
    "website": "ホームページの運営",
    "email": "電子メールの送受信",
    "other": "その他",
}

LOSS_CATEGORIES = {
    "damages": "損害賠償金",
    "defence_costs": "訴訟対応の弁護士費用",
    "advertising": "広告宣伝活動費用",
    "condolence": "見舞金・見舞品購入費用",
    "legal_consultation": "法律相談費用",
    "consulting": "コンサルティング費用",
    "incident_response": "事故対応費用",
}

ENROLLMENT = {"regular": "通常加入", "mid_term": "中途加入"}

LIMITED_BY = {
    None: "―",
    "per_accident_limit": "1事故あたりの支払限度額",
    "period_aggregate": "保険期間中の支払限度額（残額）",
}


def industry(key: str) -> str:
    return INDUSTRIES.get(key, key)
