"""The JSON API under `/api`: jobs, launches, follow-ups (commit, retry, revert), and the
OpenAPI document that describes them."""

from starlette.routing import BaseRoute

from server.api import follow_ups, jobs, launches, openapi, queue

routes: list[BaseRoute] = [*jobs.routes, *launches.routes, *follow_ups.routes, *queue.routes]
routes.append(openapi.document_route(routes, prefix="/api"))
