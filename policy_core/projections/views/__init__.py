"""The read models, in the order they are applied to each batch."""

from __future__ import annotations

from ..view import View
from .claims import ClaimsView
from .collections import CollectionsView
from .erasures import ErasuresView
from .limits import LimitsView
from .policies import PoliciesView
from .portfolio import PortfolioView

VIEW_CLASSES: tuple[type[View], ...] = (
    LimitsView,
    PoliciesView,
    ClaimsView,
    CollectionsView,
    PortfolioView,
    ErasuresView,
)
VIEW_NAMES = tuple(v.name for v in VIEW_CLASSES)


def all_views() -> list[View]:
    return [cls() for cls in VIEW_CLASSES]


def select_views(names: list[str] | tuple[str, ...] | str | None = None) -> list[View]:
    """Views by name (all when None); an unknown name is a ValueError naming the known ones."""
    if names is None:
        return all_views()
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in VIEW_NAMES]
    if unknown:
        raise ValueError(f"unknown view(s) {', '.join(unknown)}: expected one of {', '.join(VIEW_NAMES)}")
    return [cls() for cls in VIEW_CLASSES if cls.name in names]


__all__ = [
    "VIEW_CLASSES",
    "VIEW_NAMES",
    "ClaimsView",
    "CollectionsView",
    "LimitsView",
    "ErasuresView",
    "PoliciesView",
    "PortfolioView",
    "all_views",
    "select_views",
]
