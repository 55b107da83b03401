"""`/ws/jobs`: the Background Jobs page's socket (and a job's own page's).

Only a Superadmin or a Power User gets one; anybody else's handshake is closed with 1008. A
Power User's socket carries only their own jobs, whatever tab it asks for. `list=0` keeps
only the header current; `insert=0` swaps the jobs already on the page and adds none (a
filtered list, a job's page).
"""

from __future__ import annotations

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from server.auth.access import viewer_of
from server.hub.fanout import Hub


async def jobs_socket(websocket: WebSocket) -> None:
    viewer = await viewer_of(websocket)
    if viewer is None or not viewer.may_run_jobs:
        await websocket.close(code=1008, reason="sign in as a Superadmin or Power User")
        return
    tab = websocket.query_params.get("tab", "all")
    if tab not in ("all", "mine") or not viewer.is_superadmin:
        tab = "mine"
    shows_list = websocket.query_params.get("list", "1") == "1"
    inserts_new = shows_list and websocket.query_params.get("insert", "1") == "1"
    hub: Hub = websocket.app.state.hub
    await hub.serve(websocket, viewer, tab, shows_list, inserts_new)


routes = [WebSocketRoute("/ws/jobs", jobs_socket)]
