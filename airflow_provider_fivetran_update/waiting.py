"""The one deadline-aware wait for a Fivetran connection, shared by every task that waits.

The operators, the sensors, the trigger and the maintenance window wait through this module,
so they decide, time out and report alike: :class:`WaitCondition` says what is waited for,
:class:`Wait` is one wait's progress between reads (no I/O), :func:`run_wait` and
:func:`await_wait` are the worker and triggerer loops around it, :func:`defer_wait` hands a wait
to the trigger and :func:`settle` turns how it ended into the task's result or exception. Every
read is sent with the wait's deadline. Deadlines and adding a kind of wait: docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast

from airflow_provider_fivetran_update._compat import AirflowFailException, try_number
from airflow_provider_fivetran_update.api import RetryableAPIError
from airflow_provider_fivetran_update.exceptions import FivetranError, FivetranRetryLaterError
from airflow_provider_fivetran_update.states import (
    SETUP_STATES,
    SYNC_STATES,
    StateCheck,
    check_connection_state,
    check_historical_sync,
    check_sync_completed,
    normalize_expected_states,
)

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import Context
    from airflow_provider_fivetran_update.hooks.options import HookOptions
    from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger

__all__ = [
    "DEFERRED_TRY_XCOM_KEY",
    "WAIT_KINDS",
    "Wait",
    "WaitCondition",
    "WaitResult",
    "await_wait",
    "defer_wait",
    "poke_in_task",
    "read_once",
    "replays_an_earlier_try",
    "run_wait",
    "settle",
    "trigger_for",
    "wait_in_task",
]

WAIT_KINDS: tuple[str, ...] = ("state", "historical_sync", "sync_completed")
"""What a wait can wait for: a setup/sync state, the end of a historical sync, or any sync."""

WaitStatus = Literal["success", "failed", "timeout", "error"]


def _states(value: Collection[str] | None) -> list[str] | None:
    return None if value is None else list(value)


@dataclass(frozen=True)
class WaitCondition:
    """What a wait waits for, as a JSON-able value.

    Build it with :meth:`state`, :meth:`historical_sync` or :meth:`sync_completed`.

    :param kind: one of :data:`WAIT_KINDS`.
    :param expected_setup_state: ``"state"``: accepted ``setup_state`` values, ``None`` for any.
    :param expected_sync_state: ``"state"``: accepted ``sync_state`` values, ``None`` for any.
    :param completed_after: ``"historical_sync"``: epoch seconds from
        :func:`~airflow_provider_fivetran_update.states.historical_sync_anchor`;
        ``"sync_completed"``: epoch seconds after which a completed sync counts.
    :param fail_on_broken: a broken connection ends the wait as failed.
    :param fail_on_sync_failure: ``"sync_completed"``: a failed sync ends the wait as failed.
    :param fail_on_paused: ``"sync_completed"``: a paused connection ends the wait as failed.
    """

    kind: str
    expected_setup_state: tuple[str, ...] | None = None
    expected_sync_state: tuple[str, ...] | None = None
    completed_after: float | None = None
    fail_on_broken: bool = True
    fail_on_sync_failure: bool = True
    fail_on_paused: bool = True

    def __post_init__(self) -> None:
        if self.kind not in WAIT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, WAIT_KINDS))}, got {self.kind!r}.")
        for name, allowed in (("expected_setup_state", SETUP_STATES), ("expected_sync_state", SYNC_STATES)):
            states = normalize_expected_states(name, getattr(self, name), allowed)
            object.__setattr__(self, name, None if states is None else tuple(states))
        if self.kind in ("historical_sync", "sync_completed"):
            if self.completed_after is None:
                raise ValueError(f"a {self.kind!r} wait needs completed_after (epoch seconds).")
            object.__setattr__(self, "completed_after", float(self.completed_after))

    @classmethod
    def state(
        cls,
        *,
        expected_setup_state: str | Collection[str] | None = ("connected",),
        expected_sync_state: str | Collection[str] | None = None,
        fail_on_broken: bool = True,
    ) -> WaitCondition:
        """Wait until ``setup_state`` and ``sync_state`` are among the expected ones."""
        return cls(
            "state",
            expected_setup_state=expected_setup_state,  # type: ignore[arg-type]  # normalized above
            expected_sync_state=expected_sync_state,  # type: ignore[arg-type]
            fail_on_broken=fail_on_broken,
        )

    @classmethod
    def historical_sync(cls, *, completed_after: float, fail_on_broken: bool = True) -> WaitCondition:
        """Wait until a historical sync ends after ``completed_after`` (epoch seconds)."""
        return cls("historical_sync", completed_after=completed_after, fail_on_broken=fail_on_broken)

    @classmethod
    def sync_completed(
        cls,
        *,
        completed_after: float,
        fail_on_sync_failure: bool = True,
        fail_on_paused: bool = True,
        fail_on_broken: bool = True,
    ) -> WaitCondition:
        """Wait until a sync (any kind) completes after ``completed_after`` (epoch seconds)."""
        return cls(
            "sync_completed",
            completed_after=completed_after,
            fail_on_broken=fail_on_broken,
            fail_on_sync_failure=fail_on_sync_failure,
            fail_on_paused=fail_on_paused,
        )

    def check(self, connection_id: str, connection: Mapping[str, Any]) -> StateCheck:
        """The verdict on one ``GET /v1/connections/{id}`` answer."""
        if self.kind == "sync_completed":
            assert self.completed_after is not None
            return check_sync_completed(
                connection_id,
                connection,
                completed_after=self.completed_after,
                fail_on_sync_failure=self.fail_on_sync_failure,
                fail_on_paused=self.fail_on_paused,
                fail_on_broken=self.fail_on_broken,
            )
        if self.kind == "historical_sync":
            assert self.completed_after is not None
            return check_historical_sync(
                connection_id,
                connection,
                completed_after=self.completed_after,
                fail_on_broken=self.fail_on_broken,
            )
        return check_connection_state(
            connection_id,
            connection,
            expected_setup_state=self.expected_setup_state,
            expected_sync_state=self.expected_sync_state,
            fail_on_broken=self.fail_on_broken,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON values only (lists, not tuples), for trigger arguments."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "expected_setup_state": _states(self.expected_setup_state),
            "expected_sync_state": _states(self.expected_sync_state),
            "completed_after": self.completed_after,
            "fail_on_broken": self.fail_on_broken,
        }
        if self.kind == "sync_completed":
            # Only this kind has them: the older kinds keep the arguments older triggers know.
            data.update(fail_on_sync_failure=self.fail_on_sync_failure, fail_on_paused=self.fail_on_paused)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WaitCondition:
        """Rebuild a condition from :meth:`to_json`'s output."""
        return cls(
            str(data["kind"]),
            expected_setup_state=data.get("expected_setup_state"),
            expected_sync_state=data.get("expected_sync_state"),
            completed_after=data.get("completed_after"),
            fail_on_broken=bool(data.get("fail_on_broken", True)),
            fail_on_sync_failure=bool(data.get("fail_on_sync_failure", True)),
            fail_on_paused=bool(data.get("fail_on_paused", True)),
        )


@dataclass(frozen=True)
class WaitResult:
    """How a wait ended.

    :param status: ``"success"``, ``"failed"`` (broken, or the historical sync failed),
        ``"timeout"`` (the deadline passed) or ``"error"`` (Fivetran could not be read).
    :param message: one line for the task log, naming the connection.
    :param state: the :func:`~airflow_provider_fivetran_update.states.connection_state` summary of
        the last answer, ``None`` when nothing was read.
    :param connection: that answer's ``data`` (secrets masked), ``None`` when nothing was read.
    """

    status: WaitStatus
    message: str
    connection_id: str
    state: dict[str, Any] | None = None
    connection: dict[str, Any] | None = None

    def to_event(self) -> dict[str, Any]:
        """The trigger event's payload."""
        return {
            "status": self.status,
            "message": self.message,
            "connection_id": self.connection_id,
            "state": self.state,
            "connection": self.connection,
        }


class Wait:
    """One wait's progress between reads: when to read next and what each read means. No I/O.

    :param connection_id: the Fivetran connection waited for.
    :param condition: what is waited for.
    :param deadline: epoch seconds after which the wait ends with ``"timeout"``.
    :param poll_interval: seconds between two reads.
    :param first_read_at: epoch seconds of the first read (``None``: now); never after ``deadline``.
    :param patient: wait out a ``Retry-After`` that the hook would not sleep but that ends before
        the deadline (the triggerer, or a task that defers meanwhile). Otherwise such a read
        fails the wait at once, as the hook's error.
    :param clock: epoch seconds now (tests pass their own).
    :param log: where each answer is logged (a task's or trigger's ``log``), or ``None``.
    """

    def __init__(
        self,
        connection_id: str,
        condition: WaitCondition,
        *,
        deadline: float,
        poll_interval: float,
        first_read_at: float | None = None,
        patient: bool = False,
        clock: Callable[[], float] = time.time,
        log: Any = None,
    ) -> None:
        self.connection_id = connection_id
        self.condition = condition
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.patient = patient
        self.clock = clock
        self.log = log
        self.last: StateCheck | None = None
        self.connection: dict[str, Any] | None = None
        self._next_read = clock() if first_read_at is None else float(first_read_at)
        self._not_before = -math.inf  # Fivetran asked not to be asked before then

    @property
    def next_read_at(self) -> float:
        """Epoch seconds of the next read: after the poll interval and any pause Fivetran asked for."""
        return min(max(self._next_read, self._not_before), self.deadline)

    def next_read(self) -> float:
        """Seconds to sleep before the next read (0 when it is due)."""
        return max(0.0, self.next_read_at - self.clock())

    def answer(self, connection: Mapping[str, Any]) -> WaitResult | None:
        """Judge one answer: the result when the wait is over, else ``None`` (read again)."""
        check = self.condition.check(self.connection_id, connection)
        self.last, self.connection = check, dict(connection)
        if check.outcome == "satisfied":
            self._log("%s", check.message)
            return self._result("success", check.message)
        if check.outcome in ("broken", "failed"):
            self._log("%s", check.message)
            return self._result("failed", check.message)
        now = self.clock()
        if now >= self.deadline:
            return self._result(
                "timeout", f"Timed out waiting: {check.message} The task's timeout has passed."
            )
        self._next_read = now + self.poll_interval
        self._log("%s Next check in %.1f s.", check.message, self.next_read())
        return None

    def failure(self, error: BaseException) -> WaitResult | None:
        """Judge a read that raised ``error``: the result when the wait is over, else ``None``.

        ``"error"`` results stand for ``error`` itself: the worker loop raises it, the trigger
        reports it.
        """
        now = self.clock()
        if isinstance(error, FivetranRetryLaterError):
            resume = now + error.retry_after
            if resume >= self.deadline:
                return self._result(
                    "timeout",
                    f"Timed out waiting for Fivetran connection {self.connection_id!r}: it cannot be "
                    f"read again before the deadline ({max(0.0, self.deadline - now):.1f} s left). "
                    f"{error}{self._last_seen()}",
                )
            if self.patient:
                self._not_before = resume
                self._log(
                    "Reading Fivetran connection %r again in %.1f s, as Fivetran asked: %s",
                    self.connection_id,
                    error.retry_after,
                    error,
                )
                return None
        elif isinstance(error, RetryableAPIError) and now >= self.deadline:
            return self._result(
                "timeout",
                f"Timed out waiting for Fivetran connection {self.connection_id!r}: the last read "
                f"failed ({error}).{self._last_seen()}",
            )
        return self._result("error", f"Could not read Fivetran connection {self.connection_id!r}: {error}")

    def _last_seen(self) -> str:
        return "" if self.last is None else f" Last seen: {self.last.message}"

    def _result(self, status: WaitStatus, message: str) -> WaitResult:
        return WaitResult(
            status,
            message,
            self.connection_id,
            None if self.last is None else self.last.state,
            self.connection,
        )

    def _log(self, message: str, *args: Any) -> None:
        if self.log is not None:
            self.log.info(message, *args)


def read_once(read: Callable[[], Mapping[str, Any]], wait: Wait) -> WaitResult | None:
    """Read once and judge it (a sensor's poke): the result when the wait is over, else ``None``.

    A read failure that ends the wait with ``"error"`` is raised as it is.
    """
    try:
        connection = read()
    except Exception as error:
        result = wait.failure(error)
        if result is not None and result.status == "error":
            raise
        return result
    return wait.answer(connection)


def run_wait(
    read: Callable[[], Mapping[str, Any]],
    wait: Wait,
    *,
    known: Mapping[str, Any] | None = None,
    defer: Callable[[Wait], NoReturn] | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> WaitResult:
    """Wait in the worker: read every poll interval until the wait is over.

    :param read: one read of the connection, sent with ``wait.deadline`` (the hook's ``deadline``).
    :param known: an answer the task already has (a PATCH answer): judged first, without a read.
    :param defer: called (it must not return, e.g. :func:`defer_wait`) instead of sleeping once the
        first answer says "not yet", so the rest of the wait runs in the triggerer.
    :return: the result; a read that fails the wait raises its error instead (see :func:`read_once`).
    """
    result = wait.answer(known) if known is not None else read_once(read, wait)
    while result is None:
        if defer is not None:
            defer(wait)
        sleep(wait.next_read())
        result = read_once(read, wait)
    return result


async def await_wait(
    read: Callable[[], Awaitable[Mapping[str, Any]]],
    wait: Wait,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> WaitResult:
    """The triggerer's twin of :func:`run_wait`: first read at ``wait.next_read_at``; never raises
    but ``CancelledError`` (a failed read ends as an ``"error"`` result)."""
    while True:
        await sleep(wait.next_read())
        try:
            connection = await read()
        except Exception as error:  # CancelledError is not an Exception: cancellation propagates
            result = wait.failure(error)
        else:
            result = wait.answer(connection)
        if result is not None:
            return result


def trigger_for(wait: Wait, options: HookOptions) -> FivetranConnectionStateTrigger:
    """The trigger that carries on ``wait``: same deadline, condition and hook options."""
    # Imported here: the trigger module loads Airflow's trigger machinery, which a DAG file that
    # only declares a task does not need.
    from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger

    return FivetranConnectionStateTrigger(
        connection_id=wait.connection_id,
        end_time=wait.deadline,
        poll_interval=wait.poll_interval,
        # The task has just read (or been told) the state: the trigger's first read waits.
        first_poll_at=wait.next_read_at,
        wait_condition=wait.condition.to_json(),
        **options.to_json(),
    )


DEFERRED_TRY_XCOM_KEY = "fivetran_deferred_try"
"""XCom key under which :func:`defer_wait` records the number of the try that deferred."""


def defer_wait(
    task: Any,
    wait: Wait,
    options: HookOptions,
    *,
    method_name: str = "execute_complete",
    kwargs: dict[str, Any] | None = None,
    context: Context | None = None,
) -> NoReturn:
    """Defer ``task`` (a BaseOperator) to :func:`trigger_for` ``wait``; resume in ``method_name``.

    Airflow's own deferral timeout is the task's ``execution_timeout``; the wait's deadline
    travels inside the trigger. With ``context``, the deferring try's number is pushed to XCom
    (:data:`DEFERRED_TRY_XCOM_KEY`) for :func:`replays_an_earlier_try`.
    """
    if context is not None:
        context["ti"].xcom_push(key=DEFERRED_TRY_XCOM_KEY, value=try_number(context))
    task.defer(
        trigger=trigger_for(wait, options),
        method_name=method_name,
        kwargs=kwargs,
        timeout=task.execution_timeout,
    )
    raise AssertionError("BaseOperator.defer returned")  # pragma: no cover - it always raises


def replays_an_earlier_try(task: Any, context: Context) -> bool:
    """Whether ``task`` resumes with the trigger event of an earlier try: it must start over.

    Airflow 3.0 keeps a deferred task's resume method and its trigger's event across a retry
    (apache/airflow#56704, fixed in 3.1), so the retry of a try whose wait ended in error would
    resume with that error. The deferring try's number is the XCom :func:`defer_wait` pushed:
    Airflow keeps a task's XComs while it resumes, the retry's too on 3.0 (the resume arguments
    are no place for it: ``dag.test()`` on 3.0 replaces them with the event). A deferral without
    it resumes as it is.
    """
    ti = context["ti"]
    deferred_try = ti.xcom_pull(task_ids=ti.task_id, key=DEFERRED_TRY_XCOM_KEY, map_indexes=ti.map_index)
    current = try_number(context)
    if deferred_try is None or deferred_try == current:
        return False
    task.log.info(
        "Try %s resumed with the trigger event of try %s, which deferred; this try starts from "
        "the beginning.",
        current,
        deferred_try,
    )
    return True


def _task_wait(
    task: Any, connection_id: str, condition: WaitCondition, *, deadline: float, poll_interval: float
) -> tuple[Wait, Callable[[], Mapping[str, Any]]]:
    wait = Wait(
        connection_id,
        condition,
        deadline=deadline,
        poll_interval=poll_interval,
        patient=task.deferrable,
        log=task.log,
    )

    def read() -> Mapping[str, Any]:
        return cast(
            "Mapping[str, Any]", task.hook.get_connection_details(connection_id, deadline=wait.deadline)
        )

    return wait, read


def wait_in_task(
    task: Any,
    context: Context,
    connection_id: str,
    condition: WaitCondition,
    *,
    deadline: float,
    poll_interval: float,
    known: Mapping[str, Any] | None = None,
    resume_kwargs: dict[str, Any] | None = None,
) -> WaitResult:
    """A task's wait (:func:`run_wait` with ``task.hook``), deferred once it has to wait when
    ``task.deferrable``: the task then resumes in ``execute_complete(context, event,
    **resume_kwargs)``, which starts over when :func:`replays_an_earlier_try`.

    ``task`` is one of the provider's operators: ``hook``, ``hook_options_value()``, ``deferrable``
    and ``log``. ``known`` is an answer the task already has, judged first without a read.
    """
    wait, read = _task_wait(task, connection_id, condition, deadline=deadline, poll_interval=poll_interval)
    defer: Callable[[Wait], NoReturn] | None = None
    if task.deferrable:

        def defer(wait: Wait) -> NoReturn:
            defer_wait(task, wait, task.hook_options_value(), kwargs=resume_kwargs, context=context)

    return run_wait(read, wait, known=known, defer=defer)


def poke_in_task(
    task: Any,
    context: Context,
    connection_id: str,
    condition: WaitCondition,
    *,
    deadline: float,
    poll_interval: float,
) -> WaitResult | None:
    """A sensor's poke: one read (``None`` while the wait goes on), or, when ``task.deferrable``,
    :func:`wait_in_task`, which defers once it has to wait."""
    if task.deferrable:
        return wait_in_task(
            task, context, connection_id, condition, deadline=deadline, poll_interval=poll_interval
        )
    wait, read = _task_wait(task, connection_id, condition, deadline=deadline, poll_interval=poll_interval)
    return read_once(read, wait)


def settle(
    outcome: WaitResult | Mapping[str, Any] | None,
    *,
    connection_id: str,
    timeout_error: Callable[[str], BaseException],
) -> WaitResult:
    """The one way a wait's end becomes a task's result: return on success, raise otherwise.

    ``outcome`` is a :class:`WaitResult` (a wait in the worker) or a trigger event's payload.
    ``"failed"`` raises :class:`AirflowFailException` (no retry: a broken connection or a failed
    sync needs a person); ``"timeout"`` raises ``timeout_error(message)`` (``AirflowSensorTimeout``
    for sensors); ``"error"``, and a missing event, raise
    :class:`~airflow_provider_fivetran_update.exceptions.FivetranError`, which Airflow retries.
    """
    if isinstance(outcome, WaitResult):
        result = outcome
    elif outcome and outcome.get("status") in ("success", "failed", "timeout", "error"):
        result = WaitResult(
            outcome["status"],
            str(outcome.get("message", "")),
            str(outcome.get("connection_id") or connection_id),
            outcome.get("state"),
            outcome.get("connection"),
        )
    else:
        raise FivetranError(f"The trigger for Fivetran connection {connection_id!r} ended without an event.")
    if result.status == "success":
        return result
    if result.status == "failed":
        raise AirflowFailException(result.message)
    if result.status == "timeout":
        raise timeout_error(result.message)
    raise FivetranError(result.message)
