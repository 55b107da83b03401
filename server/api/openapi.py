"""The OpenAPI 3.1 document of the JSON API, generated from its routes and served at
/api/openapi.json.

Each API route is an `Operation`: a Starlette route that also says its summary, parameters,
request body (a pydantic model per media type) and answers by status (server/api/schema.py).
`document()` walks the routes, so a route cannot exist without being described; every model
an answer names becomes a component. Every operation but this document needs the session
cookie (sign in at /login), and every unsafe request must come with the site's own `Origin`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.api.schema import Refusal


@dataclass(frozen=True)
class Answer:
    """One status's answer: what it means, and its body's model per media type (None: a body
    no model describes, such as CSV or the cross-site guard's plain text)."""

    description: str
    content: dict[str, type[BaseModel] | None] = field(default_factory=dict)


def json_answer(description: str, model: type[BaseModel] = Refusal) -> Answer:
    return Answer(description, {"application/json": model})


@dataclass(frozen=True)
class Body:
    """A request body: its model per media type, and multipart encodings."""

    content: dict[str, type[BaseModel]]
    encoding: dict[str, dict[str, Any]] = field(default_factory=dict)


class Operation(Route):
    """A route of the API with what the document says of it."""

    def __init__(
        self,
        method: str,
        path: str,
        endpoint: Callable[..., Any],
        summary: str,
        answers: dict[int, Answer],
        parameters: Sequence[dict[str, Any]] = (),
        body: Body | None = None,
        is_public: bool = False,
    ) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method.lower()
        self.summary = summary
        self.answers = answers
        self.parameters = list(parameters)
        self.body = body
        self.is_public = is_public


def query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema} | (
        {"description": description} if description else {}
    )


JOB_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "A job's id (as given by the API).",
    "schema": {"type": "string", "maxLength": 64},
}
SIGNED_IN = {401: json_answer("Not signed in."), 403: json_answer("Signed in, but not allowed.")}
SIGNED_IN_FROM_HERE = {
    401: json_answer("Not signed in."),
    403: Answer(
        "Not allowed, or the request did not come from this site (no Origin).",
        {"application/json": Refusal, "text/plain": None},
    ),
}
NOT_YOURS = {404: json_answer("No such job, or not one this viewer may see.")}

SESSION = {
    "type": "apiKey",
    "in": "cookie",
    "name": "jobdeck_session",
    "description": "Set by POST /login; unsafe requests also need the site's Origin.",
}


def document(routes: Sequence[BaseRoute], prefix: str) -> dict[str, Any]:
    """The OpenAPI document of `routes` (served under `prefix`); every one must be an
    Operation."""
    operations = []
    for route in routes:
        if not isinstance(route, Operation):
            raise TypeError(f"every API route must be an Operation, got {route!r}")
        operations.append(route)
    answer_models = {
        model
        for op in operations
        for answer in op.answers.values()
        for model in answer.content.values()
        if model is not None
    }
    refs, components = models_json_schema(
        [(model, "serialization") for model in sorted(answer_models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item: dict[str, Any] = {"summary": op.summary}
        if op.parameters:
            item["parameters"] = op.parameters
        if op.body:
            item["requestBody"] = {"required": True, "content": body_content(op.body)}
        item["responses"] = {
            str(status): answer_item(answer, refs) for status, answer in op.answers.items()
        }
        if op.is_public:
            item["security"] = []
        paths.setdefault(prefix + op.path, {})[op.method] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jobdeck",
            "version": "1",
            "description": "Background jobs (massive actions) of the learning platform.",
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"session": SESSION},
            "schemas": components.get("$defs", {}),
        },
    }


def body_content(body: Body) -> dict[str, Any]:
    """Inline schemas (a multipart body's `file` part must read as binary where it stands)."""
    content: dict[str, Any] = {}
    for media_type, model in body.content.items():
        content[media_type] = {"schema": model.model_json_schema(mode="validation")}
        if media_type in body.encoding:
            content[media_type]["encoding"] = body.encoding[media_type]
    return content


def answer_item(answer: Answer, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {"description": answer.description}
    if answer.content:
        item["content"] = {
            media_type: {"schema": refs[(model, "serialization")]} if model else {}
            for media_type, model in answer.content.items()
        }
    return item


def document_route(routes: Sequence[BaseRoute], prefix: str) -> Operation:
    """The route that serves the document of `routes` and of itself (built once, here)."""

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    route = Operation(
        "GET",
        "/openapi.json",
        openapi,
        "This document",
        {200: Answer("OpenAPI 3.1", {"application/json": None})},
        is_public=True,
    )
    body = JSONResponse(document([*routes, route], prefix)).body
    return route
