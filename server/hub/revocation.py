"""Closing the sockets of people who lost access without signing out.

Sign-out closes a session's sockets at once (the hub hears it on Redis). A person can also lose
access while a page stays open: deactivated, demoted (by an import run with `on_existing=update`
or by an operator in the database), or their session expired or removed. Pages check on every
request; open sockets are checked here every `RECHECK_S`, all at once (one Redis round trip
and one query, whatever their number), and those no longer allowed are closed with 1008
(policy violation), which the page's WebSocket does not retry: a reload shows the person where
they stand now. A demoted Superadmin's View All socket is closed too, since it carried every job;
so are the wall screens of every link that Superadmin made (one more query, for all screens).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.concurrency import run_in_threadpool

from server.auth.screen_links import ORPHANED, ScreenViewer, orphaned
from server.auth.sessions import Sessions, Viewer
from server.hub.fanout import Hub

log = logging.getLogger(__name__)

RECHECK_S = 1.0


async def close_revoked(hub: Hub, sessions: Sessions) -> int:
    """Close every socket whose viewer's access changed; how many were closed."""
    # Wall screens are not people: their links expire and are revoked on their own terms, and
    # end with their creator's standing (below).
    people = [(s, s.viewer) for s in hub.sockets if isinstance(s.viewer, Viewer)]
    revoked = await run_in_threadpool(sessions.revoked, [viewer for _, viewer in people])
    closing = [s for s, viewer in people if viewer.session_id in revoked]
    for sock in closing:
        with contextlib.suppress(Exception):
            await sock.websocket.close(code=1008, reason="access changed")
    screens = [(s, s.viewer) for s in hub.sockets if isinstance(s.viewer, ScreenViewer)]
    links = [screen.link for _, screen in screens]
    ended = await run_in_threadpool(orphaned, sessions.runtime.engine, links) if links else set()
    for sock, screen in screens:
        if screen.link.id in ended:
            with contextlib.suppress(Exception):
                await sock.websocket.close(code=1008, reason=ORPHANED[:120])
    return len(closing) + sum(screen.link.id in ended for _, screen in screens)


async def watch(hub: Hub, sessions: Sessions, recheck_s: float = RECHECK_S) -> None:
    """Run `close_revoked` every `recheck_s` while the hub runs; survive Redis or DB outages."""
    while True:
        await asyncio.sleep(recheck_s)
        if not hub.sockets:
            continue
        try:
            closed = await close_revoked(hub, sessions)
        except Exception:
            log.warning("could not re-check the open sockets' access", exc_info=True)
            continue
        if closed:
            log.info("closed %d socket(s) of people who lost access", closed)
