"""Errors raised by the provider.

Every message is written for the person reading a failed task's log: what failed, for which
Fivetran connection, what Fivetran said, and what to do next. No message ever contains a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_fivetran_update._compat import AirflowException


class FivetranError(AirflowException):
    """Base class of every error this provider raises."""


class FivetranValidationError(FivetranError, ValueError):
    """A field given for the Update a Connection payload is unknown or has a value Fivetran rejects.

    Raised before any request is sent.

    :param field: the payload field at fault (for example ``sync_frequency``).
    :param problem: what is wrong, in a sentence.
    :param allowed: the values or form that are accepted, for the message.
    """

    def __init__(self, field: str, problem: str, allowed: str | Sequence[object] | None = None) -> None:
        self.field = field
        self.problem = problem
        if allowed is None or isinstance(allowed, str):
            self.allowed = allowed
        else:
            self.allowed = ", ".join(repr(value) for value in allowed)
        message = f"Invalid Fivetran field {field!r}: {problem}"
        if self.allowed:
            message += f" Allowed: {self.allowed}."
        super().__init__(message)


class FivetranAPIError(FivetranError):
    """Fivetran answered with an error, or with something that is not a valid API answer.

    :param status_code: the HTTP status, or ``None`` when no answer was received.
    :param code: Fivetran's own error code from the body (``NotFound_Connection``), if any.
    :param message: Fivetran's message from the body, or a description of the problem.
    :param connection_id: the Fivetran connection the request was about, if any.
    :param request_id: the request id header Fivetran returned, if any.
    :param method: the HTTP method of the failed request.
    :param path: the URL path of the failed request.
    :param hint: what the user can do next.
    """

    def __init__(
        self,
        *,
        status_code: int | None,
        code: str | None,
        message: str,
        connection_id: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        # AirflowException declares status_code as an HTTPStatus for its API server; ours is
        # Fivetran's answer, or None when there was none.
        self.status_code = status_code  # type: ignore[assignment]
        self.code = code
        self.message = message
        self.connection_id = connection_id
        self.request_id = request_id
        self.method = method
        self.path = path
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        if self.status_code is None:
            text = "Fivetran API did not answer"
        else:
            text = f"Fivetran API answered {self.status_code}"
        if self.code:
            text += f" {self.code}"
        if self.connection_id is not None:
            text += f" for connection {self.connection_id!r}"
        elif self.method and self.path:
            text += f" for {self.method} {self.path}"
        text += f": {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.hint:
            text += f". {self.hint}"
        return text


class FivetranRetryLaterError(FivetranAPIError):
    """A request failed and was not sent again: the wait before another attempt does not fit.

    Raised instead of sleeping past the caller's deadline or past ``retry_max_wait``. A wait
    (sensor, trigger, operator) turns it into its timeout outcome when ``retry_after`` ends after
    its deadline.

    :param retry_after: seconds to wait before another attempt makes sense.
    """

    def __init__(self, *, retry_after: float, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)


class FivetranRateLimitError(FivetranRetryLaterError):
    """Fivetran answered 429 with a ``Retry-After`` longer than the request may wait.

    Asking before then would only be rate-limited again, so the request fails at once; the
    message names the wait Fivetran asked for. ``retry_after`` is that wait in seconds.
    """
