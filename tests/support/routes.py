"""Every route an app serves, with its full path, through the wings' `Mount`s."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute


def served_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """(full path, route) for each Route and WebSocketRoute; a Mount of an app that has no
    routes of its own (static files) as itself, with its path."""
    for route in routes:
        if isinstance(route, Route | WebSocketRoute):
            yield prefix + route.path, route
        elif isinstance(route, Mount) and route.routes:
            yield from served_routes(route.routes, prefix + route.path)
        elif isinstance(route, Mount):
            yield prefix + route.path, route
        else:
            raise AssertionError(f"a route of an unknown kind: {route!r}")
