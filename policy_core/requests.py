"""The request a command runs for (an HTTP request with an ``Idempotency-Key``), if any.

The API sets it for a keyed request; the application records its id in every event's metadata
(``request_id``) and uses it so that a retry of a request whose first attempt failed or was cut
off executes exactly once:

* a command that creates an aggregate takes the id derived from the request
  (:func:`derived_id`), so a re-run finds what the first run recorded;
* on a retry (``retry=True``) a command first looks for events its request already recorded
  (``PolicyAdministration.recorded_by_request``) and, when there are, answers from them
  instead of deciding again.

Commands outside a request (the scheduler, the CLI) see ``None`` and behave as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:policy-admin:request")


@dataclass(frozen=True)
class RequestContext:
    id: str  # stable across the retries of one request (the idempotency row's id)
    retry: bool = False  # a re-execution after a failed or abandoned attempt


_CURRENT: ContextVar[RequestContext | None] = ContextVar("policy_admin_request", default=None)


def current() -> RequestContext | None:
    return _CURRENT.get()


def derived_id(kind: str) -> UUID | None:
    """The id of the ``kind`` aggregate this request creates (the same on every retry), or None."""
    ctx = _CURRENT.get()
    return None if ctx is None else uuid5(_NAMESPACE, f"{kind}:{ctx.id}")


@contextmanager
def request_context(request_id: str, *, retry: bool = False) -> Iterator[RequestContext]:
    ctx = RequestContext(request_id, retry)
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
