"""The hook's settings as one value, and what operators and sensors need of the hook at parse time.

Kept apart from :mod:`airflow_provider_fivetran_update.hooks.fivetran` so that declaring a task
loads neither the hook nor its HTTP client: those are imported when the task runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

DEFAULT_CONN_ID = "fivetran_default"
"""The Airflow connection id the provider uses unless told otherwise."""


def check_retry_settings(*, max_retries: object, retry_min_wait: float, retry_max_wait: float) -> None:
    """Raise ``ValueError`` naming the argument when the retry settings cannot work.

    The one place these rules live: :class:`HookOptions` and
    :class:`~airflow_provider_fivetran_update.api.RetryPolicy` both call it.
    """
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
    if not 0 <= retry_min_wait <= retry_max_wait:
        raise ValueError(
            "retry_min_wait and retry_max_wait must satisfy 0 <= retry_min_wait <= retry_max_wait, "
            f"got {retry_min_wait!r} and {retry_max_wait!r}."
        )


@dataclass(frozen=True)
class HookOptions:
    """Everything that makes one Fivetran hook differ from another, checked once.

    It travels from an operator, sensor or window to the hook it builds and, as JSON
    (:meth:`to_json`), to the trigger it defers to. Equal options make interchangeable hooks, so
    triggers sharing a loop may share one (see ``triggers/_reads.py``).

    :param fivetran_conn_id: the Airflow connection holding the Fivetran API key and secret.
    :param request_timeout: seconds to wait for Fivetran's answer to one request.
    :param max_retries: retries after the first attempt, for 429, 5xx and network failures.
    :param retry_min_wait: the first backoff in seconds (doubles per retry, with jitter).
    :param retry_max_wait: the longest single wait between two attempts, in seconds; a
        ``Retry-After`` asking for longer fails the request at once instead.
    """

    fivetran_conn_id: str = DEFAULT_CONN_ID
    request_timeout: float = 30.0
    max_retries: int = 5
    retry_min_wait: float = 1.0
    retry_max_wait: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.fivetran_conn_id, str) or not self.fivetran_conn_id.strip():
            raise ValueError(
                f"fivetran_conn_id must be a non-empty Airflow connection id, got {self.fivetran_conn_id!r}."
            )
        for name in ("request_timeout", "retry_min_wait", "retry_max_wait"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ValueError(f"{name} must be a number of seconds, got {value!r}.")
            # Frozen: floats in, so equal options compare (and hash) equal whatever the caller passed.
            object.__setattr__(self, name, float(value))
        if self.request_timeout <= 0:
            raise ValueError(
                f"request_timeout must be a positive number of seconds, got {self.request_timeout:g}."
            )
        check_retry_settings(
            max_retries=self.max_retries,
            retry_min_wait=self.retry_min_wait,
            retry_max_wait=self.retry_max_wait,
        )

    def to_json(self) -> dict[str, Any]:
        """The options as JSON values, keyed by argument name (what triggers serialize)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HookOptions:
        """Rebuild options from :meth:`to_json`'s output; other keys are ignored."""
        names = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def make_hook(self) -> FivetranHook:
        """A new hook with these options (no I/O: credentials are read on the first request)."""
        from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

        return FivetranHook(
            self.fivetran_conn_id,
            timeout=self.request_timeout,
            max_retries=self.max_retries,
            retry_min_wait=self.retry_min_wait,
            retry_max_wait=self.retry_max_wait,
        )


class FivetranHookOptionsMixin:
    """Mixin for the provider's operators and sensors: the hook options, checked once, and the hook.

    The options are plain attributes, so they survive task serialization, mapping and the
    rendering of a templated ``fivetran_conn_id``; :meth:`hook_options_value` turns them into a
    :class:`HookOptions` when the task runs. The hook is made on first use, never while a DAG
    file is parsed.
    """

    fivetran_conn_id: str
    request_timeout: float
    max_retries: int
    retry_min_wait: float
    retry_max_wait: float

    def set_hook_options(
        self,
        owner: str,
        *,
        fivetran_conn_id: str,
        request_timeout: float,
        max_retries: int,
        retry_min_wait: float,
        retry_max_wait: float,
    ) -> None:
        """Check and keep the hook options; ``owner`` (the task id) prefixes any error."""
        self.fivetran_conn_id = fivetran_conn_id
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.retry_min_wait = retry_min_wait
        self.retry_max_wait = retry_max_wait
        try:
            # A templated id (an XComArg) is checked once rendered, when the hook is made.
            self._hook_options(fivetran_conn_id if isinstance(fivetran_conn_id, str) else DEFAULT_CONN_ID)
        except ValueError as error:
            raise ValueError(f"{owner}: {error}") from None

    def _hook_options(self, fivetran_conn_id: str) -> HookOptions:
        return HookOptions(
            fivetran_conn_id,
            request_timeout=self.request_timeout,
            max_retries=self.max_retries,
            retry_min_wait=self.retry_min_wait,
            retry_max_wait=self.retry_max_wait,
        )

    def hook_options_value(self) -> HookOptions:
        """The current (rendered) options as one checked value."""
        return self._hook_options(self.fivetran_conn_id)

    def hook_options(self) -> dict[str, Any]:
        """The options as keyword arguments, for a trigger that builds its own hook."""
        return self.hook_options_value().to_json()

    @cached_property
    def hook(self) -> FivetranHook:
        """The Fivetran hook for ``fivetran_conn_id`` (created on first use, never while parsing)."""
        return self.hook_options_value().make_hook()


FivetranHookOptions = FivetranHookOptionsMixin
"""The mixin's earlier name, kept importable."""
