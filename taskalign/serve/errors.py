"""Every error the server returns, in one OpenAI shape: `{"error": {"message", "type", "param", "code"}}`.

Not run directly; `app.py` calls `install(app)` before adding routes and declares each route's errors with
`declared(...)`. Request bodies are read as strict JSON: NaN, Infinity, lone surrogates and non-JSON content types are
refused with one sentence, so no input reaches a handler that cannot encode it.
"""

import json
import math

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

KINDS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
         409: "conflict_error", 413: "request_too_large", 429: "rate_limit_error", 500: "server_error",
         503: "overloaded_error"}
DESCRIPTIONS = {400: "The body is not strict JSON (no NaN, Infinity, lone surrogates) or exceeds a server limit",
                401: "Missing or invalid API key", 404: "No such task, or it belongs to another owner",
                409: "Idempotency-Key already used with a different body", 413: "Request body too large",
                415: "The body is not sent as Content-Type: application/json",
                422: "A field, query parameter or header is invalid", 500: "Internal or model error",
                503: "Busy: the request queue is full; retry shortly"}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: int


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_response(status: int, message: str, kind: str | None = None, param: str | None = None,
                   headers: dict | None = None) -> JSONResponse:
    """The one error body; its text is made printable first, so rendering it cannot fail."""
    body = {"message": _printable(message), "type": kind or KINDS.get(status, "invalid_request_error"),
            "param": _printable(param), "code": status}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _printable(text: str | None) -> str | None:
    """Lone surrogates as \\uXXXX escapes, at most 2,000 characters."""
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")[:2000]


def declared(*statuses: int) -> dict:
    """OpenAPI `responses=` for these error statuses, all with the ErrorResponse body."""
    return {status: {"model": ErrorResponse, "description": DESCRIPTIONS[status]} for status in statuses}


# -- strict JSON bodies -------------------------------------------------------------------------------------------
class _Refused(ValueError):
    pass


def _no_constant(name: str):
    raise _Refused(f"{name} is not a valid JSON number; send finite numbers only")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(f"the number {text[:40]} is too large; send finite numbers only")
    return value


def _lone_surrogate(value) -> tuple[str, str] | None:
    """(path, 'U+D800') of the first string or key holding a lone surrogate; None when all text is valid Unicode."""
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return path, f"U+{ord(item[exc.start]):04X}"
        pairs = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in pairs:
            where = f"{path}.{key}" if path else str(key)
            stack += [(where, key), (where, child)]
    return None


def parse_json(body: bytes):
    """The body as JSON, or HTTPException 400 naming what is wrong: syntax, encoding, NaN, depth or a surrogate."""
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except _Refused as exc:
        raise HTTPException(400, f"request body: {exc}") from None
    except UnicodeDecodeError:
        raise HTTPException(400, "request body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise HTTPException(400, f"request body is not valid JSON: {exc.msg} ({where})") from None
    except RecursionError:
        raise HTTPException(400, "request body is nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise HTTPException(400, f"request body is not valid JSON: {str(exc).split(';')[0]}") from None
    found = _lone_surrogate(value)
    if found:
        raise HTTPException(400, f"request body: {found[0] or 'the body'}: text must be valid UTF-8 "
                                 f"(no lone surrogates; found {found[1]})")
    return value


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class _StrictJSONRequest(Request):
    async def json(self):
        if not hasattr(self, "_strict_json"):
            self._strict_json = parse_json(await self.body())
        return self._strict_json


class JSONRoute(APIRoute):
    """A route whose body, if it has one, must be strict JSON sent as application/json (415 otherwise)."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request):
            request = _StrictJSONRequest(request.scope, request.receive)
            content_type = request.headers.get("content-type")
            if await request.body() and not _is_json(content_type):
                raise HTTPException(415, "send the body as JSON with Content-Type: application/json "
                                         f"(got {content_type or 'no Content-Type'})")
            return await handler(request)

        return strict


# -- exception handlers -------------------------------------------------------------------------------------------
def _where(loc) -> tuple[str, str | None]:
    """('body.title', 'title') for a pydantic error location: the message names the part, param only the field."""
    parts = [str(p)[:60] for p in loc]
    field = ".".join(parts[1:]) or None
    return ".".join(parts), field


def validation_message(errors: list[dict]) -> tuple[str, str | None]:
    """One sentence for up to three pydantic errors (never their `input`, which may not be JSON-safe); and the param."""
    if not errors:
        return "invalid request", None
    described = [f"{_where(e.get('loc', ()))[0]}: {str(e.get('msg', 'invalid')).removeprefix('Value error, ')}"
                 for e in errors[:3]]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(described) + more, _where(errors[0].get("loc", ()))[1]


def _allowed(request: Request) -> list[str]:
    """Every method of every route on this path (the router's own Allow header names only the first route's)."""
    return sorted({method for route in request.app.router.routes if isinstance(route, Route)
                   and route.matches(request.scope)[0] != Match.NONE for method in route.methods or ()})


def install(app: FastAPI) -> None:
    """Strict JSON bodies for the routes added after this, and the OpenAI error shape for every error."""
    app.router.route_class = JSONRoute

    @app.exception_handler(StarletteHTTPException)  # also FastAPI's subclass, and the router's own 404/405
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = str(exc.detail)
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no route {request.method} {request.url.path}; the API is described at /openapi.json"
        elif exc.status_code == 405 and exc.detail == "Method Not Allowed":
            allowed = ", ".join(_allowed(request))
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
            return error_response(405, message, headers={"Allow": allowed})
        return error_response(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError):
        message, param = validation_message(list(exc.errors()))
        return error_response(422, message, param=param)

    @app.exception_handler(Exception)
    async def crashed(_request, exc: Exception):
        return error_response(500, f"internal error ({exc.__class__.__name__})")
