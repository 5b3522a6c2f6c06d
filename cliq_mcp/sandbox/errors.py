"""Errors the simulated Cliq answers with, in the three body shapes the notes document.

Shapes: flat ``{"code", "message"}`` (the operations' format), nested ``{"error": {"code", "message"}}``
(``/chats/search``, as in the seed) and message-only ``{"message"}`` (the 401 of the flat operations).
A handler raises :class:`ApiError`; the endpoint wrapper renders it in the operation's style.
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.responses import JSONResponse

Style = Literal["flat", "nested"]
Shape = Literal["auto", "flat", "nested", "message"]

INVALID_AUTH_TOKEN = "Request was rejected because of invalid AuthToken."

# The search examples use dotted codes; flat codes are translated when rendered nested.
_NESTED_CODES = {"invalid_inputs": "invalid.inputs.submitted", "param_missing": "invalid.inputs.submitted"}


class ApiError(Exception):
    """An HTTP error answer; ``shape="auto"`` takes the body shape of the operation that raised it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        shape: Shape = "auto",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.shape: Shape = shape
        self.headers = dict(headers or {})

    def body(self, style: Style) -> dict[str, Any]:
        shape = style if self.shape == "auto" else self.shape
        if shape == "message":
            return {"message": self.message}
        if shape == "nested":
            return {"error": {"code": _NESTED_CODES.get(self.code, self.code), "message": self.message}}
        return {"code": self.code, "message": self.message}

    def response(self, style: Style) -> JSONResponse:
        return JSONResponse(self.body(style), status_code=self.status, headers=self.headers)


def invalid_inputs(message: str) -> ApiError:
    return ApiError(400, "invalid_inputs", message)


def param_missing(name: str) -> ApiError:
    return ApiError(400, "param_missing", f"The parameter '{name}' is missing.")


def chat_access_denied(chat_id: str) -> ApiError:
    # assumption: an unknown or inaccessible chat is a 404 with the flat chat_access_denied code.
    return ApiError(404, "chat_access_denied", f"You do not have access to the chat '{chat_id}'.")


def not_a_member(chat_id: str) -> ApiError:
    # assumption: a chat you can see but have not joined (an open channel) refuses changes with 403.
    return ApiError(403, "chat_access_denied", f"You are not a participant of the chat '{chat_id}'.")


def unauthorized(style: Style) -> ApiError:
    if style == "nested":  # the search examples show even the 401 nested
        return ApiError(401, "unauthorized", INVALID_AUTH_TOKEN, shape="nested")
    return ApiError(401, "unauthorized", INVALID_AUTH_TOKEN, shape="message")


def forbidden() -> ApiError:
    # Deliberately generic, like Cliq: naming the missing scope is the client's job.
    return ApiError(
        403,
        "invalid_access",
        "You are not a member of this organisation or do not have permission to access this resource.",
    )


def throttled(style: Literal["429", "400"]) -> ApiError:
    if style == "400":  # the field report's shape, whatever the operation's usual style
        return ApiError(400, "request_limit_exceeded", "You have exceeded the URL throttle limits.", shape="flat")
    # The document: flat for the chat operations, nested for search (the endpoint's style decides).
    return ApiError(
        429, "rate_limit_exceeded", "Too many requests within a certain time frame. Please try again later."
    )
