"""The OpenAPI 3 description of the JSON API, served at /api/openapi.json.

Written by hand next to the routes it describes (server/api.py); a test compares its paths and
methods with the app's routes, so a route cannot be added or removed without it. Every
operation but this document needs the session cookie (sign in at /login), and every unsafe
request must come with the site's own `Origin`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.inputs import ERROR_CURSOR, JOB_CURSOR, MAX_PAGE
from tasks.jobs.model import Status


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _refusal(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


SIGN_IN = {"401": _refusal("Not signed in."), "403": _refusal("Signed in, but not allowed.")}
SIGN_IN_OR_ORIGIN = {
    "401": _refusal("Not signed in."),
    "403": {
        "description": "Not allowed, or the request did not come from this site (no Origin).",
        "content": {"application/json": {"schema": _ref("Error")}, "text/plain": {}},
    },
}
NOT_YOURS = {"404": _refusal("No such job, or not one this viewer may see.")}
JOB_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "A job's id (as given by the API).",
    "schema": {"type": "string", "maxLength": 64},
}
LIMIT = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
}
CURSOR = {
    "name": "cursor",
    "in": "query",
    "description": "The cursor the previous page gave; absent for the first page.",
    "schema": {"type": "string", "pattern": JOB_CURSOR},
}
ERRORS_CURSOR = {**CURSOR, "schema": {"type": "string", "pattern": ERROR_CURSOR}}
STATUSES = "|".join(s.value for s in Status)
TIME = {"type": ["string", "null"], "format": "date-time"}
PERSON = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}
JOB = {
    "type": "object",
    "required": ["id", "kind", "description", "owner", "status", "done", "error_count"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"type": "string"},
        "description": {"type": "string"},
        "owner": PERSON,
        "status": {"type": "string", "enum": [s.value for s in Status]},
        "total": {"type": ["integer", "null"]},
        "done": {"type": "integer"},
        "percent": {"type": ["number", "null"]},
        "error_count": {"type": "integer"},
        "created_at": TIME,
        "started_at": TIME,
        "finished_at": TIME,
        "heartbeat_at": TIME,
        "running_time_s": {"type": ["number", "null"]},
        "stalled": {"type": "boolean"},
        "aborted_by": {"oneOf": [PERSON, {"type": "null"}]},
        "aborted_at": TIME,
        "message": {"type": ["string", "null"]},
        "expires_at": TIME,
        "url": {"type": "string"},
        "errors_url": {"type": "string"},
        "notify": {"type": "boolean", "description": "Whether I get an email when it ends."},
    },
}
UPLOAD = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "A UTF-8 CSV."},
            },
        },
        "encoding": {"file": {"contentType": "text/csv"}},
    }
}
IMPORT_UPLOAD = {
    "multipart/form-data": {
        **UPLOAD["multipart/form-data"],
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "string",
                    "format": "binary",
                    "description": "A UTF-8 CSV with the columns email, name, role, courses.",
                },
                "on_existing": {"type": "string", "enum": ["skip", "update"]},
            },
        },
    }
}
LAUNCH_REFUSALS = {
    **SIGN_IN_OR_ORIGIN,
    "400": _refusal("The request could not be read."),
    "413": _refusal("The upload is over the size limit (cut off while it streams)."),
    "415": _refusal("Not multipart/form-data (or JSON, where accepted)."),
    "422": _refusal("The file is not a usable CSV: the message says why."),
}

PATHS: dict[str, dict[str, Any]] = {
    "/api/jobs": {
        "get": {
            "summary": "List jobs, newest first",
            "parameters": [
                {
                    "name": "scope",
                    "in": "query",
                    "description": "'all' (Superadmins only) or 'mine'.",
                    "schema": {"type": "string", "enum": ["mine", "all"]},
                },
                {
                    "name": "status",
                    "in": "query",
                    "description": "Comma-separated statuses.",
                    "schema": {"type": "string", "pattern": f"^({STATUSES})(,({STATUSES}))*$"},
                },
                CURSOR,
                LIMIT,
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["jobs", "cursor"],
                        "properties": {
                            "jobs": {"type": "array", "items": _ref("Job")},
                            "cursor": {"type": ["string", "null"]},
                        },
                    },
                    "A page of jobs.",
                ),
                "400": _refusal("A malformed parameter."),
                **SIGN_IN,
            },
        }
    },
    "/api/jobs/{id}": {
        "parameters": [JOB_ID],
        "get": {
            "summary": "One job",
            "responses": {"200": _json(_ref("Job"), "The job."), **SIGN_IN, **NOT_YOURS},
        },
        "delete": {
            "summary": "Remove an ended job, its errors and its input",
            "responses": {
                "204": {"description": "Removed."},
                "409": _refusal("The job has not ended."),
                **SIGN_IN_OR_ORIGIN,
                **NOT_YOURS,
            },
        },
    },
    "/api/jobs/{id}/errors": {
        "parameters": [JOB_ID],
        "get": {
            "summary": "A job's errors, in the order they happened",
            "parameters": [ERRORS_CURSOR, LIMIT],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["errors", "cursor", "count"],
                        "properties": {
                            "errors": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "item": {"type": "string"},
                                        "message": {"type": "string"},
                                        "at": TIME,
                                    },
                                },
                            },
                            "cursor": {"type": ["string", "null"]},
                            "count": {"type": "integer"},
                        },
                    },
                    "A page of errors.",
                ),
                "400": _refusal("A malformed parameter."),
                **SIGN_IN,
                **NOT_YOURS,
            },
        },
    },
    "/api/jobs/{id}/errors.csv": {
        "parameters": [JOB_ID],
        "get": {
            "summary": "All of a job's errors as CSV (formulas neutralised)",
            "responses": {
                "200": {
                    "description": "item,message,at",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                **SIGN_IN,
                **NOT_YOURS,
            },
        },
    },
    "/api/jobs/{id}/abort": {
        "parameters": [JOB_ID],
        "post": {
            "summary": "Abort a job",
            "responses": {
                "200": _json(_ref("Job"), "Aborted (it was still queued)."),
                "202": _json(_ref("Job"), "Aborting: the worker stops at its next check."),
                "409": _refusal("Already ended or being aborted."),
                **SIGN_IN_OR_ORIGIN,
                **NOT_YOURS,
            },
        },
    },
    "/api/jobs/{id}/notify": {
        "parameters": [JOB_ID],
        "post": {
            "summary": "Email me when this job ends",
            "responses": {
                "200": _json(_ref("Job"), "Noted."),
                "409": _refusal("The job has already ended."),
                **SIGN_IN_OR_ORIGIN,
                **NOT_YOURS,
            },
        },
    },
    "/api/imports/users": {
        "post": {
            "summary": "Import users from a CSV file",
            "requestBody": {"required": True, "content": IMPORT_UPLOAD},
            "responses": {"202": _json(_ref("Job"), "Queued."), **LAUNCH_REFUSALS},
        }
    },
    "/api/enrollments": {
        "post": {
            "summary": "Enroll users in courses: a CSV (email, course) or two JSON lists",
            "requestBody": {
                "required": True,
                "content": {
                    **UPLOAD,
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["emails", "courses"],
                            "properties": {
                                "emails": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 254},
                                },
                                "courses": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 254},
                                },
                            },
                        }
                    },
                },
            },
            "responses": {"202": _json(_ref("Job"), "Queued."), **LAUNCH_REFUSALS},
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
            },
        }
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "jobdeck",
        "version": "1",
        "description": "Background jobs (massive actions) of the learning platform.",
    },
    "servers": [{"url": "/"}],
    "security": [{"session": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": "jobdeck_session",
                "description": "Set by POST /login; unsafe requests also need the site's Origin.",
            }
        },
        "schemas": {
            "Job": JOB,
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
        },
    },
}


async def openapi(request: Request) -> Response:
    return JSONResponse(DOCUMENT)


routes = [Route("/openapi.json", openapi, methods=["GET"])]
