"""Read models built from the event log: limits, policies, claims, collections, portfolio.

Public API:

* :class:`ReadModels` - queries for the API, the scheduler and reports, plus ``lag()``/``ready()``.
* :func:`participants_counter` - ``participants(scheme) -> int`` for ``PolicyAdministration``.
* :class:`ProjectionRunner` - live following (``start``/``stop``) or one-shot ``catch_up``.
* :func:`rebuild` / :func:`verify` - blue/green rebuild; replay-and-compare audit.
* :class:`EventSource`, :class:`Projector`, :class:`View` - the engine, for tests and new views.

The aggregates remain the only place where a cap is enforced: these are for reading.
"""

from __future__ import annotations

from .engine import EventSource, Projector
from .maintenance import VerifyReport, rebuild, verify
from .read import ParticipantsCounter, ReadModels, loss_ratio, participants_counter
from .runner import ProjectionRunner
from .view import View
from .views import VIEW_NAMES, all_views, select_views

__all__ = [
    "VIEW_NAMES",
    "EventSource",
    "ParticipantsCounter",
    "ProjectionRunner",
    "Projector",
    "ReadModels",
    "VerifyReport",
    "View",
    "all_views",
    "loss_ratio",
    "participants_counter",
    "rebuild",
    "select_views",
    "verify",
]
