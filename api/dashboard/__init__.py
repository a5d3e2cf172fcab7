"""The reporting dashboard: server-rendered pages under /dashboard (see routes.py)."""

from .routes import NAV, install, render, router, templates, viewer

__all__ = ["NAV", "install", "render", "router", "templates", "viewer"]
