"""The dashboard's pages under /dashboard: server-rendered HTML (Jinja2), working without JavaScript.

Every page takes ``Authorization: Bearer <key>`` or the session cookie set by the sign-in
page; ``?lang=en`` switches to English; ``?csv=<table id>`` downloads one of its tables.
Extending: another package adds its router under ``/dashboard/...``, renders its page
with ``render(request, "its_template.html", ...)`` from a template that extends
``base.html``, and appends an entry to ``NAV`` to appear in the navigation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from policy_core.aggregates.claim import Claim
from policy_core.aggregates.policy import Policy
from policy_core.calendar import TOKYO
from policy_core.projections.views.portfolio import allocate
from policy_core.scheme import SCHEME_KEYS, load_scheme
from policy_core.settlement import SECTIONS

from ..auth import ApiKey
from . import charts, queries, session
from .i18n import Translator, pick_lang
from .tables import Col, DataTable, csv_response

log = logging.getLogger("api.dashboard")

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# (label key or {"ja":..., "en":...}, path): the navigation; other packages append their pages.
NAV: list[tuple[Any, str]] = [
    ("overview", "/dashboard"),
    ("collections", "/dashboard/collections"),
    ("claims", "/dashboard/claims"),
    ("limits", "/dashboard/limits"),
    ("policies", "/dashboard/policies"),
    ({"ja": "リスク診断", "en": "Risk assessments"}, "/dashboard/risk-assessments"),  # issue 15's page
]
LAG_WARN_SECONDS = 60.0
NAMES_ROLES = ("operator", "auditor")  # the dashboard role sees no personal data

router = APIRouter(prefix="/dashboard", include_in_schema=False)


class SignInRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


async def viewer(request: Request) -> ApiKey:
    """The caller's key: a Bearer header (scripts, monitoring) or the session cookie."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, credentials = header.partition(" ")
        key = request.app.state.api_keys.get(credentials.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            raise HTTPException(status_code=401, detail="unknown API key")
        return key
    key = session.session_key(request)
    if key is None:
        raise SignInRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    return key


Viewer = Annotated[ApiKey, Depends(viewer)]
Lang = Annotated[str | None, Query(max_length=5)]
SchemeQ = Annotated[str | None, Query(max_length=20)]


def install(app: Any) -> None:
    from fastapi.staticfiles import StaticFiles

    app.mount("/dashboard/static", StaticFiles(directory=str(HERE / "static")), name="dashboard-static")
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse("/dashboard/sign-in?" + urlencode({"next": exc.next_url}), status_code=303)


# ---------------------------------------------------------------------------- rendering
def _url(path: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v is not None and v != ""}
    return path + ("?" + urlencode(clean) if clean else "")


def freshness(request: Request, t: Translator) -> dict[str, Any]:
    rt = request.app.state.runtime
    lag = rt.read_models.lag()
    positions = [v["position"] for v in lag.values()]
    head = max((v["head"] for v in lag.values()), default=0)
    behind = max((v["events_behind"] or 0 for v in lag.values()), default=0)
    seconds = max((v["seconds_behind"] or 0.0 for v in lag.values()), default=0.0)
    broken = any(not v["built"] or v["last_error"] for v in lag.values())
    lagging = broken or (behind > 0 and seconds > LAG_WARN_SECONDS)
    return {
        "position": min(positions, default=0),
        "head": head,
        "computed_at": t.datetime(rt.clock.now()),
        "lagging": lagging,
        "warning": t("lag_warning", n=f"{behind:,}", s=f"{seconds:,.0f}") if lagging else "",
    }


def render(
    request: Request,
    template: str,
    key: ApiKey,
    lang: str | None,
    *,
    title: str,
    tables: Sequence[DataTable] = (),
    status_code: int = 200,
    **context: Any,
) -> Response:
    """Render a page; ``?csv=<table id>`` answers with that table as CSV instead."""
    wanted = request.query_params.get("csv")
    if wanted:
        for table in tables:
            if table.id == wanted:
                return csv_response(table)
        raise HTTPException(status_code=404, detail=f"no table {wanted!r} on this page")
    t = Translator(pick_lang(lang))
    query = dict(request.query_params)
    query.pop("csv", None)
    other = "en" if t.lang == "ja" else "ja"
    nav = [
        (
            t(label) if isinstance(label, str) else label.get(t.lang, label.get("en", "")),
            _url(path, lang=lang),
        )
        for label, path in NAV
    ]
    body = templates.get_template(template).render(
        request=request,
        t=t,
        lang=t.lang,
        title=title,
        key=key,
        nav=nav,
        path=request.url.path,
        lang_url=_url(request.url.path, **{**query, "lang": other}),
        csv_url=lambda tid: _url(request.url.path, **{**query, "csv": tid}),
        csrf=session.csrf_token(request),
        fresh=freshness(request, t),
        tables={tb.id: tb for tb in tables},
        **context,
    )
    return HTMLResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})


def _scheme(value: str | None) -> str:
    if value is None or value == "":
        return SCHEME_KEYS[0]
    if value not in SCHEME_KEYS:
        raise HTTPException(status_code=422, detail=f"unknown scheme {value!r}")
    return value


def _now(request: Request) -> datetime:
    return request.app.state.runtime.clock.now()


def policy_link(lang: str | None):
    return lambda r: _url(f"/dashboard/policies/{r['policy_id']}", lang=lang)


def claim_link(lang: str | None):
    return lambda r: _url(f"/dashboard/claims/{r['claim_id']}", lang=lang)


# ---------------------------------------------------------------------------- sign-in
@router.get("/sign-in")
def sign_in_page(request: Request, lang: Lang = None, next: str | None = None) -> Response:  # noqa: A002
    return _sign_in(request, lang, next, error=None)


def _sign_in(request: Request, lang: str | None, next_url: str | None, error: str | None) -> Response:
    t = Translator(pick_lang(lang))
    token = session.new_sign_in_token()
    other = "en" if t.lang == "ja" else "ja"
    body = templates.get_template("sign_in.html").render(
        request=request,
        t=t,
        lang=t.lang,
        title=t("sign_in"),
        csrf=token,
        next=_safe_next(next_url),
        error=error,
        lang_url=_url("/dashboard/sign-in", lang=other, next=next_url),
    )
    response = HTMLResponse(body, status_code=401 if error else 200, headers={"Cache-Control": "no-store"})
    session.set_sign_in_cookie(request, response, token)
    return response


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > 8192:
        raise HTTPException(status_code=413, detail="form too large")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


@router.post("/sign-in")
async def sign_in(request: Request, lang: Lang = None) -> Response:
    form = await _form(request)
    lang = form.get("lang") or lang
    t = Translator(pick_lang(lang))
    if not session.check_sign_in_csrf(request, form.get("csrf")):
        return _sign_in(request, lang, form.get("next"), error=t("csrf_failed"))
    key = request.app.state.api_keys.get(form.get("api_key", "").strip())
    if key is None:
        log.info("dashboard sign-in refused")
        return _sign_in(request, lang, form.get("next"), error=t("wrong_key"))
    log.info("dashboard sign-in", extra={"role": key.role, "key_id": key.key_id})
    target = _safe_next(form.get("next"))
    if lang and "lang=" not in target:
        target += ("&" if "?" in target else "?") + urlencode({"lang": pick_lang(lang)})
    response = RedirectResponse(target, status_code=303)
    session.start_session(request, response, key)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    form = await _form(request)
    if not session.check_csrf(request, form.get("csrf")):
        raise HTTPException(status_code=403, detail="the form's CSRF token is missing or wrong")
    response = RedirectResponse(_url("/dashboard/sign-in", lang=form.get("lang")), status_code=303)
    session.end_session(response)
    return response


# ---------------------------------------------------------------------------- overview
@router.get("")
def overview(
    request: Request,
    key: Viewer,
    scheme: SchemeQ = None,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
    lang: Lang = None,
) -> Response:
    rt = request.app.state.runtime
    rm = rt.read_models
    t = Translator(pick_lang(lang))
    scheme = _scheme(scheme)
    now = _now(request)
    years = queries.years_with_data(rm, scheme)
    if year is None:
        current = queries.current_year(scheme, now)
        year = current if current in years or not years else years[-1]
    report = rm.portfolio(scheme, year)
    tables: list[DataTable] = []
    context: dict[str, Any] = {"scheme": scheme, "year": year, "years": sorted(set(years) | {year})}
    if report is not None:
        summary = queries.year_summary(rm, scheme, year, now)
        earned = summary["earned_premium"]

        def drill(set_name: str):
            return lambda r: _url("/dashboard/policies", scheme=scheme, year=year, set=set_name, lang=lang)

        def claims_drill(**f: Any):
            return lambda r: _url("/dashboard/claims/list", scheme=scheme, year=year, lang=lang, **f)

        figures = [
            ("policies_in_force", "count", report["participants"], drill("in_force")),
            ("new_business", "count", report["new_policies"], drill("new")),
            ("renewals", "count", report["renewals"], drill("renewal")),
            ("lapses", "count", summary["lapsed"], drill("lapsed")),
            ("cancellations", "count", summary["cancelled"], drill("cancelled")),
            ("written_premium", "yen", report["written_premium"], None),
            ("collected_premium", "yen", report["collected_premium"], None),
            ("return_premium", "yen", report["return_premium"], None),
            ("earned_premium", "yen", earned, None),
            ("claims_reported", "count", report["claims_reported"], claims_drill()),
            ("claims_paid_count", "count", report["claims_paid"], claims_drill(paid=1)),
            ("claims_denied", "count", report["claims_denied"], claims_drill(status="denied")),
            ("claims_paid_amount", "yen", report["paid_total"], None),
            ("loss_ratio_paid", "pct", report["loss_ratio"], None),
            ("loss_ratio_earned", "pct", round(report["paid_total"] / earned, 4) if earned else None, None),
        ]
        if "incurred_yen" in report:  # reserves (issue 11): outstanding, incurred, recoveries
            incurred_ratio = report["incurred_loss_ratio_percent"]
            figures[13:13] = [
                ("outstanding_reserve", "yen", report["outstanding_reserve_yen"], None),
                ("incurred", "yen", report["incurred_yen"], None),
                ("recoveries_due", "yen", report["recoveries_due_yen"], None),
            ]
            figures.append(
                ("loss_ratio_incurred", "pct", None if incurred_ratio is None else incurred_ratio / 100, None)
            )
        rows = []
        for name, kind, value, link in figures:
            rows.append(
                {"id": name, "figure": t(name), "value": value, "kind": kind, "href": link and link({})}
            )
        context["figures"] = rows
        tables.append(
            DataTable(
                "figures",
                t("figures"),
                [Col("figure", t("figure")), Col("value", t("value"), "text")],
                [{"figure": r["figure"], "value": r["value"]} for r in rows],
            )
        )
        coins = []
        for c in report["coinsurers"]:
            share = c["share_bp"]
            coins.append(
                {
                    **c,
                    "share": None if share is None else share / 10_000,
                    "earned_premium": None,
                }
            )
        shares = [(c["coinsurer"], c["share_bp"]) for c in report["coinsurers"]]
        if shares and all(bp is not None for _, bp in shares):
            parts = allocate(earned, shares)
            for c in coins:
                c["earned_premium"] = parts[c["coinsurer"]]
        names = {c.key: c.name for c in load_scheme(scheme).coinsurers}
        for c in coins:
            c["coinsurer_name"] = names.get(c["coinsurer"], c["coinsurer"])
        tables.append(
            DataTable(
                "coinsurers",
                t("coinsurers"),
                [
                    Col("coinsurer_name", t("coinsurer")),
                    Col("share", t("share"), "pct"),
                    Col("written_premium", t("written_premium"), "yen"),
                    Col("collected_premium", t("collected_premium"), "yen"),
                    Col("return_premium", t("return_premium"), "yen"),
                    Col("earned_premium", t("earned_premium"), "yen"),
                    Col("paid_total", t("claims_paid_amount"), "yen"),
                    Col("outstanding_reserve_yen", t("outstanding_reserve"), "yen"),
                    Col("incurred_yen", t("incurred"), "yen"),
                    Col("loss_ratio", t("loss_ratio_paid"), "pct"),
                ],
                coins,
            )
        )
        tables.append(
            DataTable(
                "mix",
                t("mix"),
                [
                    Col("plan", t("plan")),
                    Col("industry", t("industry")),
                    Col("periods_written", t("periods_written"), "count"),
                    Col("policies_in_force", t("policies_in_force"), "count"),
                    Col("written_premium", t("written_premium"), "yen"),
                    Col("collected_premium", t("collected_premium"), "yen"),
                ],
                report["mix"],
            )
        )
        months = queries.monthly(rm, scheme, year)
        context["chart"] = charts.premium_and_claims(t, months) if months else ""
        tables.append(
            DataTable(
                "monthly",
                t("chart_data"),
                [
                    Col("month", t("month"), "month"),
                    Col("premium", t("premium_collected"), "yen"),
                    Col("claims", t("claims_paid_month"), "yen"),
                ],
                months,
            )
        )
    context["report"] = report
    return render(request, "overview.html", key, lang, title=t("overview"), tables=tables, **context)


# ---------------------------------------------------------------------------- policies
@router.get("/policies")
def policy_list(
    request: Request,
    key: Viewer,
    scheme: SchemeQ = None,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
    set: Annotated[str | None, Query(pattern="^(in_force|new|renewal|lapsed|cancelled)$")] = None,  # noqa: A002
    debit_on: date | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    lang: Lang = None,
) -> Response:
    rm = request.app.state.runtime.read_models
    t = Translator(pick_lang(lang))
    scheme = _scheme(scheme)
    if set is not None and year is None:
        raise HTTPException(status_code=422, detail="set needs a year")
    rows, total = queries.policies(
        rm, scheme=scheme, year=year, set_name=set, debit_on=debit_on, offset=offset
    )
    table = DataTable(
        "policies",
        t("policies"),
        [
            Col("policy_id", t("policy"), link=policy_link(lang)),
            Col("number", t("number")),
            Col("member_number", t("member_number")),
            Col("plan", t("plan")),
            Col("industry", t("industry")),
            Col("status", t("status"), "value"),
            Col("current_period", t("period"), "count"),
            Col("premium", t("premium"), "yen"),
            Col("collected", t("collected"), "yen"),
            Col("arrears", t("outstanding"), "yen"),
            Col("next_debit_date", t("next_debit_date"), "date"),
            Col("claims", t("claims"), "count"),
            Col("claims_paid", t("claims_paid_amount"), "yen"),
        ],
        rows,
    )
    page = _paging(request, offset, total)
    heading = " · ".join(
        x
        for x in (
            t(scheme),
            f"{t('year')} {year}" if year else "",
            t({"in_force": "policies_in_force", "new": "new_business", "renewal": "renewals"}.get(set, set))
            if set
            else "",
            f"{t('debit_date')} {t.date(debit_on)}" if debit_on else "",
        )
        if x
    )
    return render(
        request,
        "list.html",
        key,
        lang,
        title=t("policies"),
        tables=[table],
        heading=heading,
        total=total,
        page=page,
        scheme=scheme,
    )


def _paging(request: Request, offset: int, total: int) -> dict[str, str | None]:
    query = dict(request.query_params)
    query.pop("csv", None)
    prev_url = next_url = None
    if offset > 0:
        prev_url = _url(request.url.path, **{**query, "offset": max(0, offset - queries.PAGE)})
    if offset + queries.PAGE < total:
        next_url = _url(request.url.path, **{**query, "offset": offset + queries.PAGE})
    return {"prev": prev_url, "next": next_url}


def _event_details(t: Translator, e: Any) -> str:
    """The event's facts without personal data (holder, bank account, free text), briefly."""
    skip = {
        "holder",
        "bank_account",
        "description",
        "message",
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "metadata",
        "settlement",
        "items",
        "period",
        "sections",
    }
    parts = []
    data = vars(e)
    if isinstance(data.get("period"), dict):
        p = data["period"]
        parts.append(
            f"{t('period')} {p.get('number')}: {t.date(p.get('start'))} – {t.date(p.get('end'))},"
            f" {t('premium')} {t.yen(p.get('premium'))}"
        )
    for k, v in data.items():
        if k in skip or isinstance(v, (dict, list, tuple)):
            continue
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int) and any(w in k for w in ("amount", "premium", "total", "sales")):
            parts.append(f"{k}={t.yen(v)}")
        elif isinstance(v, datetime):
            parts.append(f"{k}={t.datetime(v)}")
        elif isinstance(v, date):
            parts.append(f"{k}={t.date(v)}")
        else:
            parts.append(f"{k}={v}")
    if isinstance(data.get("sections"), dict):
        parts.append(", ".join(f"{t.value(s)} {t.yen(a)}" for s, a in data["sections"].items()))
    if isinstance(data.get("items"), list):
        parts.append(f"{t('losses')}: {len(data['items'])}")
    return "; ".join(parts)


def _timeline(t: Translator, events: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for subject, e in sorted(events, key=lambda x: (x[1].timestamp, x[0])):
        meta = getattr(e, "metadata", None) or {}
        rows.append(
            {
                "recorded_at": e.timestamp,
                "subject": subject,
                "event": t.event(type(e).__name__),
                "version": e.originator_version,
                "actor": meta.get("actor_role") or meta.get("role") or "",
                "details": _event_details(t, e),
            }
        )
    return rows


def _payments(t: Translator, claims: list[tuple[UUID, Any]]) -> list[dict[str, Any]]:
    rows = []
    for cid, e in claims:
        if type(e).__name__ != "ClaimPaid":
            continue
        for section, s in e.settlement.get("sections", {}).items():
            if not s.get("paid") and not s.get("eligible"):
                continue
            rows.append(
                {
                    "claim_id": cid,
                    "payment": e.payment_number,
                    "recorded_at": e.timestamp,
                    "section": section,
                    "paid": s.get("paid", 0),
                    "steps": list(s.get("steps", [])),
                }
            )
    return rows


TIMELINE_COLS = ("recorded_at", "subject", "event", "version", "actor", "details")


def _timeline_table(t: Translator, rows: list[dict[str, Any]]) -> DataTable:
    return DataTable(
        "timeline",
        t("timeline"),
        [
            Col("recorded_at", t("recorded_at"), "datetime"),
            Col("subject", t("policy") + "/" + t("claim")),
            Col("event", t("event")),
            Col("version", "#", "count"),
            Col("actor", t("actor")),
            Col("details", t("details")),
        ],
        rows,
    )


def _payments_table(t: Translator, rows: list[dict[str, Any]], lang: str | None) -> DataTable:
    return DataTable(
        "payments",
        t("payments"),
        [
            Col("claim_id", t("claim"), link=claim_link(lang)),
            Col("payment", t("payment"), "count"),
            Col("recorded_at", t("recorded_at"), "datetime"),
            Col("section", t("section"), "value"),
            Col("paid", t("paid"), "yen"),
            Col("steps", t("explanation"), "steps"),
        ],
        rows,
    )


@router.get("/policies/{policy_id}")
def policy_page(request: Request, policy_id: UUID, key: Viewer, lang: Lang = None) -> Response:
    rt = request.app.state.runtime
    t = Translator(pick_lang(lang))
    policy = rt.app.get_policy(policy_id)
    holder_name = policy.holder.get("name") if key.role in NAMES_ROLES else None
    periods = [
        {
            "number": p.number,
            "start": p.start,
            "end": p.end,
            "months": p.months,
            "premium": p.premium,
            "collected": p.collected,
            "debit_date": p.debit_date,
            "failed_attempts": p.failed_attempts,
            "status": "lapsed" if p.lapsed_at else ("active" if p.activated_at else "applied"),
        }
        for p in policy.periods
    ]
    current = policy.current_period
    limits = [
        {
            "section": s,
            "limit": current.limits[s],
            "paid": current.paid.get(s, 0),
            "remaining": current.limits[s] - current.paid.get(s, 0),
        }
        for s in SECTIONS
        if s in current.limits
    ]
    claims = queries.claims_of_policy(rt.read_models, policy_id)
    events: list[tuple[str, Any]] = [(t("policy"), e) for e in rt.app.history(policy_id, cls=Policy)]
    claim_events: list[tuple[UUID, Any]] = []
    for c in claims:
        for e in rt.app.history(c["claim_id"], cls=Claim):
            claim_events.append((c["claim_id"], e))
            events.append((f"{t('claim')} {str(c['claim_id'])[:8]}", e))
    tables = [
        DataTable(
            "periods",
            t("periods"),
            [
                Col("number", t("period"), "count"),
                Col("start", t("start"), "datetime"),
                Col("end", t("end"), "datetime"),
                Col("months", t("months"), "count"),
                Col("premium", t("premium"), "yen"),
                Col("collected", t("collected"), "yen"),
                Col("debit_date", t("debit_date"), "date"),
                Col("failed_attempts", t("failed_attempts"), "count"),
                Col("status", t("status"), "value"),
            ],
            periods,
        ),
        DataTable(
            "limits",
            t("limits_current"),
            [
                Col("section", t("section"), "value"),
                Col("limit", t("limit"), "yen"),
                Col("paid", t("paid"), "yen"),
                Col("remaining", t("remaining"), "yen"),
            ],
            limits,
        ),
        _claims_table(t, "claims", t("claims"), claims, lang),
        _payments_table(t, _payments(t, claim_events), lang),
        _timeline_table(t, _timeline(t, events)),
    ]
    return render(
        request,
        "policy.html",
        key,
        lang,
        title=f"{t('policy')} {policy_id}",
        tables=tables,
        policy=policy,
        holder_name=holder_name,
    )


def _claims_table(
    t: Translator, tid: str, caption: str, rows: list[dict[str, Any]], lang: str | None
) -> DataTable:
    return DataTable(
        tid,
        caption,
        [
            Col("claim_id", t("claim"), link=claim_link(lang)),
            Col("number", t("number")),
            Col("policy_id", t("policy"), link=policy_link(lang)),
            Col("status", t("status"), "value"),
            Col("cause", t("cause")),
            Col("industry", t("industry")),
            Col("discovered_on", t("discovered_on"), "date"),
            Col("assessed_loss", t("assessed_loss"), "yen"),
            Col("paid_total", t("paid_total"), "yen"),
        ],
        rows,
    )


# ---------------------------------------------------------------------------- claims
@router.get("/claims")
def claims_page(request: Request, key: Viewer, scheme: SchemeQ = None, lang: Lang = None) -> Response:
    rm = request.app.state.runtime.read_models
    t = Translator(pick_lang(lang))
    scheme = _scheme(scheme)
    today = _now(request).astimezone(TOKYO).date()

    def to_list(**f: Any):
        return lambda r: _url(
            "/dashboard/claims/list", scheme=scheme, lang=lang, **{k: r.get(v, v) for k, v in f.items()}
        )

    tables = [
        DataTable(
            "open_by_status_age",
            t("open_by_status_age"),
            [
                Col("status", t("status"), "value"),
                Col("age", t("age")),
                Col("count", t("count"), "count", link=to_list(status="status", age="age", open="1")),
                Col("assessed_loss", t("assessed_loss"), "yen"),
            ],
            queries.claims_open_by_status_age(rm, scheme, today),
        ),
        *(
            DataTable(
                f"by_{dim}",
                t(f"by_{dim}"),
                [
                    Col(dim, t(dim)),
                    Col("count", t("count"), "count", link=to_list(**{dim: dim})),
                    Col("open", t("open"), "count", link=to_list(**{dim: dim, "open": "1"})),
                    Col("paid_total", t("paid_total"), "yen"),
                ],
                queries.claims_by(rm, scheme, dim),
            )
            for dim in ("cause", "industry")  # one table shape per breakdown of the claims
        ),
        DataTable(
            "paid_by_section",
            t("paid_by_section"),
            [Col("section", t("section"), "value"), Col("paid_total", t("paid_total"), "yen")],
            queries.paid_by_section(rm, scheme, SECTIONS),
        ),
        _claims_table(t, "largest", t("largest"), queries.largest_claims(rm, scheme), lang),
    ]
    return render(
        request, "tables.html", key, lang, title=t("claims"), tables=tables, scheme=scheme, selector=True
    )


@router.get("/claims/list")
def claim_list(
    request: Request,
    key: Viewer,
    scheme: SchemeQ = None,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    cause: Annotated[str | None, Query(max_length=50)] = None,
    industry: Annotated[str | None, Query(max_length=50)] = None,
    age: Annotated[str | None, Query(max_length=10)] = None,
    open: bool = False,  # noqa: A002
    paid: bool = False,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    lang: Lang = None,
) -> Response:
    rm = request.app.state.runtime.read_models
    t = Translator(pick_lang(lang))
    scheme = _scheme(scheme)
    filters = {
        "year": year,
        "status": status,
        "cause": cause,
        "industry": industry,
        "open": open,
        "paid": paid,
        "age": age,
        "today": _now(request).astimezone(TOKYO).date(),
    }
    rows, total = queries.claims_list(rm, scheme, filters, offset)
    heading = " · ".join(
        x
        for x in (
            t(scheme),
            f"{t('year')} {year}" if year else "",
            t.value(status) if status else "",
            cause or "",
            industry or "",
            f"{t('age')} {age}" if age else "",
            t("open") if open else "",
            t("claims_paid_count") if paid else "",
        )
        if x
    )
    return render(
        request,
        "list.html",
        key,
        lang,
        title=t("claim_list"),
        tables=[_claims_table(t, "claims", t("claim_list"), rows, lang)],
        heading=heading,
        total=total,
        page=_paging(request, offset, total),
        scheme=scheme,
    )


@router.get("/claims/{claim_id}")
def claim_page(request: Request, claim_id: UUID, key: Viewer, lang: Lang = None) -> Response:
    rt = request.app.state.runtime
    t = Translator(pick_lang(lang))
    claim = rt.app.get_claim(claim_id)
    history = rt.app.history(claim_id, cls=Claim)
    losses = [
        {
            "category": i["category"],
            "risk": i["risk"],
            "amount": i["amount"],
            "recipients": i.get("recipients"),
        }
        for i in claim.losses
    ]
    tables = [
        DataTable(
            "losses",
            t("losses"),
            [
                Col("category", t("category")),
                Col("risk", t("risk")),
                Col("amount", t("amount"), "yen"),
                Col("recipients", "recipients", "count"),
            ],
            losses,
        ),
        _payments_table(t, _payments(t, [(claim_id, e) for e in history]), lang),
        _timeline_table(t, _timeline(t, [(t("claim"), e) for e in history])),
    ]
    return render(
        request,
        "claim.html",
        key,
        lang,
        title=f"{t('claim')} {claim_id}",
        tables=tables,
        claim=claim,
    )


# ---------------------------------------------------------------------------- collections
@router.get("/collections")
def collections_page(request: Request, key: Viewer, scheme: SchemeQ = None, lang: Lang = None) -> Response:
    rm = request.app.state.runtime.read_models
    t = Translator(pick_lang(lang))
    scheme = _scheme(scheme)
    arrears = rm.arrears(scheme=scheme)
    by_attempt: dict[int, dict[str, Any]] = {}
    for a in arrears:
        row = by_attempt.setdefault(
            a["failed_attempts"], {"failed_attempts": a["failed_attempts"], "count": 0, "outstanding": 0}
        )
        row["count"] += 1
        row["outstanding"] += a["outstanding"]
    lapses = rm.lapses(scheme=scheme)
    tables = [
        DataTable(
            "next_debits",
            t("next_debits"),
            [
                Col("debit_date", t("debit_date"), "date"),
                Col(
                    "count",
                    t("count"),
                    "count",
                    link=lambda r: _url(
                        "/dashboard/policies", scheme=scheme, debit_on=r["debit_date"], lang=lang
                    ),
                ),
                Col("amount", t("amount_due"), "yen"),
            ],
            queries.next_debits(rm, scheme),
        ),
        DataTable(
            "last_runs",
            t("last_runs"),
            [
                Col("debit_date", t("debit_date"), "date"),
                Col("result_code", t("result_code"), "value"),
                Col("count", t("count"), "count"),
                Col("amount", t("amount"), "yen"),
            ],
            queries.last_runs(rm, scheme),
        ),
        DataTable(
            "arrears_by_attempt",
            t("arrears_by_attempt"),
            [
                Col("failed_attempts", t("failed_attempts"), "count"),
                Col("count", t("count"), "count"),
                Col("outstanding", t("outstanding"), "yen"),
            ],
            [by_attempt[k] for k in sorted(by_attempt)],
        ),
        DataTable(
            "arrears",
            t("arrears"),
            [
                Col("policy_id", t("policy"), link=policy_link(lang)),
                Col("period_number", t("period"), "count"),
                Col("failed_attempts", t("failed_attempts"), "count"),
                Col("outstanding", t("outstanding"), "yen"),
                Col("next_debit_date", t("next_debit_date"), "date"),
                Col("last_result_code", t("last_result"), "value"),
            ],
            arrears,
        ),
        DataTable(
            "lapses",
            t("lapse_list"),
            [
                Col("policy_id", t("policy"), link=policy_link(lang)),
                Col("period_number", t("period"), "count"),
                Col("effective_at", t("effective_at"), "datetime"),
                Col("unpaid_premium", t("unpaid_premium"), "yen"),
                Col("failed_attempts", t("failed_attempts"), "count"),
            ],
            lapses,
        ),
    ]
    return render(
        request, "tables.html", key, lang, title=t("collections"), tables=tables, scheme=scheme, selector=True
    )


# ---------------------------------------------------------------------------- limits
@router.get("/limits")
def limits_page(
    request: Request,
    key: Viewer,
    scheme: SchemeQ = None,
    threshold: Annotated[int, Query(ge=1, le=100)] = 20,
    lang: Lang = None,
) -> Response:
    rm = request.app.state.runtime.read_models
    t = Translator(pick_lang(lang))
    scheme = _scheme(scheme)
    rows = queries.limits_under(rm, scheme, threshold)
    table = DataTable(
        "limits_under",
        t("limits_under", t=threshold),
        [
            Col("policy_id", t("policy"), link=policy_link(lang)),
            Col("plan", t("plan")),
            Col("industry", t("industry")),
            Col("period_number", t("period"), "count"),
            Col("section", t("section"), "value"),
            Col("limit_yen", t("limit"), "yen"),
            Col("paid", t("paid"), "yen"),
            Col("remaining", t("remaining"), "yen"),
            Col("remaining_ratio", t("remaining_ratio"), "pct"),
        ],
        rows,
    )
    return render(
        request,
        "tables.html",
        key,
        lang,
        title=t("limits"),
        tables=[table],
        scheme=scheme,
        selector=True,
        threshold=threshold,
    )
