"""The web edge: the Starlette app, sessions and roles, pages, JSON API, WebSocket hub, CLI."""
