"""The one error tree. Every failure the model should read is a ``CliqError``.

    CliqError                       message + what to do next
    ├── ConfigurationError          no usable credentials or settings
    ├── InvalidArguments            refused by our own validation; no request was made
    ├── NotConfirmed                a destructive call without a person's yes; nothing was changed
    ├── TransportError              Cliq could not be reached, or did not answer in time
    ├── StateUnavailable            the shared state store (used confirmations, rate budget) is unreachable
    └── ApiError                    Cliq answered with an error status (status, code)
        ├── AuthenticationError     401, or the token endpoint refused
        ├── PermissionDenied        403: usually a missing OAuth scope
        ├── NotFound                404: unknown chat, or not a member
        ├── Throttled               429, or Cliq's HTTP 400 "request_limit_exceeded"
        └── ServerError             5xx, or an answer that is not Cliq's JSON (a gateway page)

HTTP is mapped to this tree once, in ``cliq/client.py``; the tree is mapped to tool errors once, in
``serve/server.py``. Messages never carry a secret or a raw response body.
"""

from __future__ import annotations

from typing import Any


class CliqError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data: dict[str, Any] | None = None  # structured content for an error result (a batch's items)

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class NothingToDo(Exception):
    """The target is already as the operation would leave it (a closed chat, a plan with nothing left): nothing
    is asked or sent, and the answer (``output``, an outputs.Output) says so; not an error."""

    def __init__(self, text: str, output: Any) -> None:
        super().__init__(text)
        self.text = text
        self.output = output


class ConfigurationError(CliqError):
    pass


class InvalidArguments(CliqError):
    pass


class NotConfirmed(CliqError):
    def __init__(self, message: str, hint: str = "", *, outcome: str = "refused") -> None:
        super().__init__(message, hint)
        self.outcome = outcome  # for the audit log: "declined" (the person said no) or "refused" (the guard)


class TransportError(CliqError):
    pass


class StateUnavailable(CliqError):
    pass


class ApiError(CliqError):
    def __init__(self, message: str, hint: str = "", *, status: int, code: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code


class AuthenticationError(ApiError):
    pass


class PermissionDenied(ApiError):
    pass


class NotFound(ApiError):
    pass


class Throttled(ApiError):
    def __init__(
        self, message: str, hint: str = "", *, status: int, code: str | None, retry_after: float | None
    ) -> None:
        super().__init__(message, hint, status=status, code=code)
        self.retry_after = retry_after


class Paced(Throttled):
    """Held back here before it was sent (this server's pacing, or a token endpoint Zoho blocks): nothing left,
    and waiting ``retry_after`` is enough."""

    def __init__(self, message: str, hint: str = "", *, retry_after: float, code: str = "paced") -> None:
        super().__init__(message, hint, status=0, code=code, retry_after=retry_after)


class ServerError(ApiError):
    pass
