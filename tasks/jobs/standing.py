"""Whether a job's owner may still run it: checked when the job starts or resumes and before
each batch it commits (`JobContext.save`); and whether a person may still see a job (`may_see`,
asked again when the end-of-job email goes out).

A job acts with its owner's authority (an import launched by a Superadmin may create
Superadmins), so that authority is asked of the database again, not trusted from the launch:
an owner deactivated, or now holding a role below the one they launched with, ends the job as
failed with `OwnerLostStanding`, whose message says why.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from tasks.data.users import User, active_roles
from tasks.jobs.model import Job

RANK = {"user": 0, "power_user": 1, "superadmin": 2}
LABEL = {"user": "a user", "power_user": "a Power User", "superadmin": "a Superadmin"}


class OwnerLostStanding(Exception):
    """The job's owner lost the right to run it; the message is for a person."""


def check_owner(engine: Engine, job: Job) -> None:
    """Raise OwnerLostStanding unless the owner is active with at least the launch's role."""
    launched_as = str(job.params.get("owner_role", "power_user"))
    with engine.connect() as conn:
        role = active_roles(conn, [job.owner.id]).get(job.owner.id)
    if role is None:
        raise OwnerLostStanding(
            f"stopped: {job.owner.name} was deactivated, and a job runs only while the person "
            "who launched it may run it; what came before was saved"
        )
    if RANK.get(role, 0) < RANK.get(launched_as, RANK["superadmin"]) or role not in LABEL:
        raise OwnerLostStanding(
            f"stopped: {job.owner.name} launched this job as {LABEL.get(launched_as, launched_as)}"
            f" and is now {LABEL.get(role, role)}; what came before was saved"
        )


def may_see(user: User, job: Job) -> bool:
    """Superadmins see every job, Power Users their own, nobody else any (as the page does)."""
    is_own = user.may_run_jobs and user.id == job.owner.id
    return user.is_active and (user.is_superadmin or is_own)
