"""What the provider's operators and sensors need of the hook while a DAG file is parsed.

Kept apart from :mod:`airflow_provider_fivetran_update.hooks.fivetran` so that declaring a task
loads neither the hook nor its HTTP client: those are imported when the task runs.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

DEFAULT_CONN_ID = "fivetran_default"
"""The Airflow connection id the provider uses unless told otherwise."""


class FivetranHookOptions:
    """Mixin for the provider's operators and sensors: the hook options, checked once, and the hook.

    The options are plain attributes, so they survive task serialization and mapping; the hook is
    made on first use, never while a DAG file is parsed.
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
        if request_timeout <= 0:
            raise ValueError(
                f"{owner}: request_timeout must be a positive number of seconds, got {request_timeout}."
            )
        if max_retries < 0:
            raise ValueError(f"{owner}: max_retries must be 0 or more, got {max_retries}.")
        if retry_min_wait < 0 or retry_max_wait < retry_min_wait:
            raise ValueError(
                f"{owner}: need 0 <= retry_min_wait <= retry_max_wait, "
                f"got {retry_min_wait} and {retry_max_wait}."
            )
        self.fivetran_conn_id = fivetran_conn_id
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.retry_min_wait = retry_min_wait
        self.retry_max_wait = retry_max_wait

    def hook_options(self) -> dict[str, Any]:
        """The options as keyword arguments, for a trigger that builds its own hook."""
        return {
            "fivetran_conn_id": self.fivetran_conn_id,
            "request_timeout": self.request_timeout,
            "max_retries": self.max_retries,
            "retry_min_wait": self.retry_min_wait,
            "retry_max_wait": self.retry_max_wait,
        }

    @cached_property
    def hook(self) -> FivetranHook:
        """The Fivetran hook for ``fivetran_conn_id`` (created on first use, never while parsing)."""
        from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

        return FivetranHook(
            self.fivetran_conn_id,
            timeout=self.request_timeout,
            max_retries=self.max_retries,
            retry_min_wait=self.retry_min_wait,
            retry_max_wait=self.retry_max_wait,
        )
