"""The actor of turns: a worker thread's go at the line (tasks/jobs/line.py).

The middleware has taken the next job in line and opened it before this runs; the turn then
does that job's work, as the massive action named by its kind.
"""

from __future__ import annotations

import dramatiq

from tasks.jobs.line import TURN_ACTOR
from tasks.jobs.middleware import current_job, massive_action


def take_turn(job_id: str) -> None:
    """`job_id` is the job the turn was queued for, for the logs: it may run another one."""
    ctx = current_job()
    dramatiq.get_broker().get_actor(ctx.job.kind).fn(ctx.id)


take_turn_actor = massive_action(take_turn, actor_name=TURN_ACTOR, takes_turn=True)
