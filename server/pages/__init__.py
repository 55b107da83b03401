"""The HTML pages: sign-in, the Background Jobs list and a job's page, the launch forms, the
wallboard, screen links, and the follow-ups of an ended job. Thin handlers: the verbs are in
server/actions.py and server/follow_ups.py, the drawing in server/views/."""

from starlette.routing import BaseRoute

from server.pages import detail, follow_ups, jobs, launch, screens, signin, wall

routes: list[BaseRoute] = [
    *signin.routes,
    *jobs.routes,
    *detail.routes,
    *launch.routes,
    *follow_ups.routes,
    *wall.routes,
    *screens.routes,
]
