"""The web UI at /: server-rendered pages (Jinja2, htmx for partial updates, Pico CSS) on the same
services and the same RBAC decision (auth/rbac.py) as /api/v2.0; it has no permission model of its own."""
