"""The JSON API under `/api`: jobs, launches, and the OpenAPI document that describes them."""

from starlette.routing import BaseRoute

from server.api import jobs, launches, openapi, queue

routes: list[BaseRoute] = [*jobs.routes, *launches.routes, *queue.routes]
routes.append(openapi.document_route(routes, prefix="/api"))
