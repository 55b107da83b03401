"""What a socket receives first, on connect and after a lost subscription: the current state of
every job it may see on its tab, and (on a page with the admin header) the header's lines.

The hub replays nothing: this snapshot is what makes a page right again after any gap.
"""

from __future__ import annotations

from server.hub.flavour import Watcher
from server.hub.grouping import ALL_PARTS
from server.hub.sockets import Socket
from tasks.jobs.model import Job
from tasks.jobs.overview import Overview, overview_of
from tasks.jobs.store import JobStore

SNAPSHOT_RECENT = 50


def read_snapshot(store: JobStore, viewer: Watcher, tab: str) -> tuple[list[Job], Overview]:
    """The jobs a socket shows (every job not ended yet and the latest ended ones, oldest
    first), and the viewer's header facts. Blocking: call it in a thread."""
    owner = None if (viewer.sees_every_job and tab == "all") else viewer.id
    recent = store.list_jobs(owner_id=owner, limit=SNAPSHOT_RECENT).items
    active = [j for j in store.get_many(store.active_ids()) if owner is None or j.owner.id == owner]
    jobs = {j.id: j for j in [*recent, *active]}
    return sorted(jobs.values(), key=lambda j: j.created_at), overview_of(store, viewer.id)


def offer_snapshot(
    sock: Socket, jobs: list[Job], overview: Overview, last: dict[str, Job], at: float
) -> None:
    """Put the snapshot into the socket's outbox, then what changed while it was read (which
    wins). `last`: the newest state heard of each job, which may be newer than what was read."""
    newer, sock.pending = sock.pending, {}
    flavour = sock.flavour
    if flavour.header is not None:
        sock.offer(("", "indicator"), flavour.header.render_indicator(overview.running))
        for job in reversed(overview.recent):
            sock.offer((job.id, "recent"), flavour.header.render_recent(job))
    for job in jobs if sock.shows_list else []:
        # On a resync, an event already sent may be newer than what was just read: sending
        # the older state would undo it, and a final state would be lost for good.
        latest = last.get(job.id)
        if latest is not None and latest.seq > job.seq:
            job = latest
        context = flavour.context(job, at)
        if sock.inserts_new:
            sock.offer((job.id, "row"), flavour.render_row(context))
        if not job.is_final:  # so that a page that inserts nothing still gets its updates
            sock.known.add(job.id)
        for kind, fragment in flavour.render_parts(context, ALL_PARTS).items():
            sock.offer((job.id, kind), fragment)
    for key, fragment in newer.items():
        sock.offer(key, fragment)
