"""One tick's fragments, each rendered at most once per flavour, and the list items that each
group of sockets receives (sockets with the same `group_key` share one list and one frame)."""

from __future__ import annotations

from collections.abc import Iterable

from server.hub.changes import Change
from server.hub.flavour import Context, Flavour
from server.hub.sockets import Items, Key, Socket, group_key
from tasks.jobs.model import Job

ALL_PARTS = ("state", "errors", "actions")


class TickRenderer:
    def __init__(self, changes: dict[str, Change], at: float) -> None:
        self.changes = changes
        self.at = at
        self.ids = set(changes)
        self.removed = {job_id for job_id, c in changes.items() if c.job is None}
        # Jobs that end this tick. A socket remembers (`known`) only the jobs on its page that
        # may still change: an ended job's last state goes out this tick, and nothing follows
        # it but its removal, which every socket gets anyway. So a socket on View All all day
        # remembers as many jobs as are running, not every job of the retention period.
        self.ended = {job_id for job_id, c in changes.items() if c.job and c.job.is_final}
        self._parts: dict[tuple[Flavour, str], Items] = {}
        self._rows: dict[tuple[Flavour, str], str] = {}
        self._contexts: dict[tuple[Flavour, str], Context] = {}
        self._groups: dict[tuple[object, ...], Items] = {}

    def _context(self, flavour: Flavour, job: Job) -> Context:
        context = self._contexts.get((flavour, job.id))
        if context is None:
            context = self._contexts[(flavour, job.id)] = flavour.context(job, self.at)
        return context

    def parts(self, flavour: Flavour, job_id: str) -> Items:
        made = self._parts.get((flavour, job_id))
        if made is None:
            change = self.changes[job_id]
            if change.job is None:
                made = [((job_id, "row"), flavour.render_removed(job_id))]
            else:
                kinds = tuple(k for k in ALL_PARTS if k in change.parts)
                rendered = flavour.render_parts(self._context(flavour, change.job), kinds)
                made = [((job_id, kind), fragment) for kind, fragment in rendered.items()]
            self._parts[(flavour, job_id)] = made
        return made

    def row(self, flavour: Flavour, job_id: str) -> tuple[Key, str]:
        made = self._rows.get((flavour, job_id))
        if made is None:
            job = self.changes[job_id].job
            assert job is not None
            made = self._rows[(flavour, job_id)] = flavour.render_row(self._context(flavour, job))
        return (job_id, "row"), made

    def for_socket(self, sock: Socket, ids: list[str]) -> tuple[tuple[object, ...], Items]:
        """The list items for this socket, shared by every socket with the same key."""
        if not ids:
            return (), []
        scope: object = "all" if sock.views_all else sock.user_id
        if sock.shows_list:
            visible = self.ids if sock.views_all else set(ids)
            if visible <= sock.known:  # the usual case: no job is new to this socket
                unknown: frozenset[str] = frozenset()
            else:
                unknown = frozenset(visible.difference(sock.known, self.removed))
        else:
            unknown = frozenset()
        key = group_key(sock.flavour, scope, sock.shows_list, sock.inserts_new, unknown)
        items = self._groups.get(key)
        if items is None:
            items = self._groups[key] = self._items(
                sock.flavour, ids, sock.shows_list, sock.inserts_new, unknown
            )
        if sock.inserts_new and unknown:
            sock.known.update(unknown)
        if sock.known and (self.removed or self.ended):
            sock.known.difference_update(self.removed, self.ended)
        return key, items

    def _items(
        self,
        flavour: Flavour,
        ids: Iterable[str],
        shows_list: bool,
        inserts_new: bool,
        unknown: frozenset[str],
    ) -> Items:
        items: Items = []
        for job_id in ids:
            if job_id in self.removed:
                # deletes the row and the recent line: for everyone
                items += self.parts(flavour, job_id)
            elif not shows_list:
                continue
            elif job_id not in unknown:
                items += self.parts(flavour, job_id)
            elif inserts_new:
                items.append(self.row(flavour, job_id))
                items += self.parts(flavour, job_id)
        return items
