"""The HTML pages: sign-in, the Background Jobs list and a job's page, the launch forms, the
wallboard, and screen links. Thin handlers: the verbs are in server/actions.py, the drawing in
server/views/."""

from starlette.routing import BaseRoute

from server.pages import detail, jobs, launch, screens, signin, wall

routes: list[BaseRoute] = [
    *signin.routes,
    *jobs.routes,
    *detail.routes,
    *launch.routes,
    *wall.routes,
    *screens.routes,
]
