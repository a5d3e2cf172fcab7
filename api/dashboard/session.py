"""Dashboard sign-in: a signed, expiring session cookie for an API key, and CSRF tokens.

* The cookie holds only the key's non-secret id (``key_<sha256 prefix>``) and the time it
  was signed (itsdangerous, HMAC-SHA256 with a server secret); it is HttpOnly,
  SameSite=Strict, Secure when the page is served over HTTPS, and expires after
  ``SESSION_SECONDS``. A key removed from the configuration ends its sessions.
* The secret: ``POLICY_SESSION_SECRET``; else a file made once beside the API keys file
  (``POLICY_DATA_DIR/dashboard-session-secret``, mode 0600) on the embedded default; else
  derived (HMAC) from the configured API keys.
* CSRF: every POST form carries a token. Signed in, the token is an HMAC of the session
  cookie (the same for the whole session); on the sign-in form, a random token that must
  match a SameSite=Strict cookie set with the form (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..auth import ApiKey

SESSION_COOKIE = "pa_session"
CSRF_COOKIE = "pa_csrf"
SESSION_SECONDS = 8 * 3600
SECRET_FILE = "dashboard-session-secret"


def _secret(request: Request) -> bytes:
    state = request.app.state
    cached = getattr(state, "dashboard_secret", None)
    if cached is not None:
        return cached
    rt = state.runtime
    settings = rt.settings
    if settings.session_secret:
        secret = settings.session_secret.encode()
    elif settings.api_keys is None and rt.database.embedded is not None:
        path = Path(settings.data_dir) / SECRET_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(32))
            except FileExistsError:
                pass
        secret = path.read_text().strip().encode()
    else:
        material = "\n".join(sorted(f"{k.role}:{k.key}" for k in state.api_keys.values())).encode()
        secret = hmac.new(material, b"policy-admin dashboard session", hashlib.sha256).digest()
    state.dashboard_secret = secret
    return secret


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(request), salt="policy-admin-dashboard-session")


def key_by_id(request: Request, key_id: str) -> ApiKey | None:
    for key in request.app.state.api_keys.values():
        if hmac.compare_digest(key.key_id, key_id):
            return key
    return None


def session_key(request: Request) -> ApiKey | None:
    """The API key of a valid, unexpired session cookie (None: not signed in)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        data: Any = _serializer(request).loads(token, max_age=SESSION_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or not isinstance(data.get("k"), str):
        return None
    return key_by_id(request, data["k"])


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def start_session(request: Request, response: Response, key: ApiKey) -> None:
    token = _serializer(request).dumps({"k": key.key_id})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(CSRF_COOKIE, path="/dashboard")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/dashboard", httponly=True, samesite="strict")


def csrf_token(request: Request) -> str:
    """The signed-in session's CSRF token ('' without a session cookie)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return ""
    return hmac.new(_secret(request), b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:40]


def check_csrf(request: Request, submitted: str | None) -> bool:
    expected = csrf_token(request)
    return bool(expected) and bool(submitted) and hmac.compare_digest(expected, submitted or "")


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def set_sign_in_cookie(request: Request, response: Response, token: str) -> None:
    """The sign-in form's double-submit token, as a cookie beside the form's hidden field."""
    response.set_cookie(
        CSRF_COOKIE,
        token,
        max_age=3600,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def check_sign_in_csrf(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and bool(submitted) and hmac.compare_digest(cookie, submitted or "")
