"""Shared reads for the triggers of one event loop that use the same Fivetran API key.

Many :class:`FivetranConnectionStateTrigger` instances polling at once would each send a
``GET /v1/connections/{id}``; one :class:`ReadCoordinator` per running loop and
:class:`HookOptions` serves reads that coincide with one ``GET /v1/connections`` listing once at
least :data:`BATCH_THRESHOLD` triggers hold it (:func:`shared_reader`), and with single GETs
below that. Only data read after a trigger asked is handed to it, each waiter gets its own copy,
and the last trigger to leave closes everything. Batching, fallbacks and hook rotation in
detail: docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from airflow_provider_fivetran_update.clock import SYSTEM_CLOCK, Clock
from airflow_provider_fivetran_update.exceptions import FivetranAPIError
from airflow_provider_fivetran_update.hooks.fivetran import MAX_PAGE_SIZE, FivetranHook
from airflow_provider_fivetran_update.hooks.options import HookOptions

log = logging.getLogger(__name__)

BATCH_THRESHOLD = 10
"""Distinct connection ids a batch needs before one listing replaces the single GETs; also the
number of triggers sharing a coordinator below which reads are sent at once, without gathering.
Below ten, ten GETs cost about what a page of the listing costs to parse and redact."""

GATHER_WINDOW_MIN = 0.2
"""Seconds a read may wait for others, at least (triggers started together fall well within it)."""

GATHER_WINDOW_FRACTION = 0.05
"""...and at most this fraction of the trigger's poll interval, so that triggers with long
intervals that were started at different moments still meet (after one shared read they stay
together: they all sleep the same interval from the same answer)."""

GATHER_WINDOW_MAX = 3.0
"""Seconds a read waits for others, at most."""

HOOK_MAX_AGE = 300.0
"""Seconds after which a coordinator takes a new hook (re-reading the Airflow connection), so a
rotated API key reaches triggers that join a coordinator that has been busy for hours."""


def gather_window(poll_interval: float) -> float:
    """How long a read of a trigger polling every ``poll_interval`` seconds may wait for others."""
    return min(GATHER_WINDOW_MAX, max(GATHER_WINDOW_MIN, poll_interval * GATHER_WINDOW_FRACTION))


@dataclass
class _HookSlot:
    """One hook, the requests using it, and whether a newer hook has replaced it."""

    hook: FivetranHook
    born: float  # the clock's monotonic seconds
    in_flight: int = 0
    retired: bool = False
    ready: asyncio.Lock = field(default_factory=asyncio.Lock)
    opened: bool = False


_Waiters: TypeAlias = "list[asyncio.Future[dict[str, Any]]]"


class ReadCoordinator:
    """Serves the reads of the triggers sharing one loop and one :class:`HookOptions`.

    Use it through :func:`shared_reader`, which counts the triggers holding it and closes it when
    the last one leaves.

    :param clock: what the gathering waits on and deadlines are measured against; its hooks
        use it too.
    """

    def __init__(self, options: HookOptions, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.options = options
        self.clock = clock
        # Built now, so invalid options fail the trigger at its start, not at its first read.
        self._slot = self._new_slot()
        self._users = 0
        self._pending: dict[str, _Waiters] = {}
        self._timer: asyncio.Task[None] | None = None
        self._flush_at: float | None = None
        self._deadline: float | None = None  # the earliest end_time of the reads gathering
        self._serving: set[asyncio.Task[None]] = set()
        self._list_pages: int | None = None  # pages the last listing took
        self._list_refused = False
        self.lists_sent = 0  # batches served by a listing, for tests and logs

    @property
    def gathering(self) -> int:
        """Reads waiting for the next batch, for tests and logs."""
        return sum(len(waiters) for waiters in self._pending.values())

    # -- what a trigger calls -------------------------------------------------------------------

    def hold(self) -> None:
        """Count one more trigger holding this coordinator (see :func:`shared_reader`)."""
        self._users += 1

    def release(self) -> bool:
        """Count one trigger fewer; ``True`` when none holds it any more (then :meth:`aclose` it)."""
        self._users -= 1
        return self._users == 0

    async def read(
        self, connection_id: str, *, window: float, end_time: float | None = None
    ) -> dict[str, Any]:
        """The connection as ``GET /v1/connections/{id}`` reports it, secrets masked.

        Raises what the hook raises (after its retries). ``window`` is the longest this read may
        wait for others (:func:`gather_window`); it never waits past ``end_time`` (epoch seconds),
        and the hook's retries neither start nor wait past it (the earliest ``end_time`` of a
        batch bounds the batch's requests).
        """
        if self._users < BATCH_THRESHOLD and not self._pending:
            # Triggers started in the same loop iteration have not all registered yet: let them.
            await asyncio.sleep(0)
        if self._users < BATCH_THRESHOLD and not self._pending:
            async with self._hook() as hook:
                return await hook.aget_connection_details(connection_id, deadline=end_time)
        loop = asyncio.get_running_loop()
        wait = window if end_time is None else max(0.0, min(window, end_time - self.clock()))
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending.setdefault(connection_id, []).append(future)
        if end_time is not None:
            self._deadline = end_time if self._deadline is None else min(self._deadline, end_time)
        self._schedule(loop, wait)
        try:
            return await future
        finally:
            if future.cancelled():
                self._forget(connection_id, future)

    # -- gathering ------------------------------------------------------------------------------

    def _schedule(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        """Flush the gathered reads in ``delay`` seconds, unless a flush is due sooner."""
        when = self.clock.monotonic() + delay
        if self._flush_at is not None and self._flush_at <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._flush_at = when
        self._timer = loop.create_task(self._flush_in(delay))

    async def _flush_in(self, delay: float) -> None:
        await self.clock.sleep(delay)
        self._flush()

    def _forget(self, connection_id: str, future: asyncio.Future[dict[str, Any]]) -> None:
        """Drop a cancelled read that is still gathering, so it neither counts nor gets fetched."""
        waiters = self._pending.get(connection_id)
        if waiters is None or future not in waiters:
            return  # already handed to a batch, which skips finished futures
        waiters.remove(future)
        if not waiters:
            del self._pending[connection_id]
        if not self._pending and self._timer is not None:
            self._timer.cancel()
            self._timer = self._flush_at = self._deadline = None

    def _flush(self) -> None:
        deadline, self._deadline = self._deadline, None
        self._timer = self._flush_at = None
        batch = {cid: ws for cid, ws in self._pending.items() if any(not w.done() for w in ws)}
        self._pending = {}
        if batch:
            task = asyncio.get_running_loop().create_task(self._serve(batch, deadline))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    # -- serving --------------------------------------------------------------------------------

    async def _serve(self, batch: dict[str, _Waiters], deadline: float | None) -> None:
        try:
            async with self._hook() as hook:
                if self._should_list(len(batch)):
                    await self._serve_from_list(hook, batch, deadline)
                if batch:
                    await asyncio.gather(
                        *(self._serve_one(hook, cid, ws, deadline) for cid, ws in batch.items())
                    )
        except Exception as error:  # the hook could not be opened (no Airflow connection, ...)
            for waiters in batch.values():
                _fail(waiters, error)
        finally:
            # Only when the coordinator closes with nobody waiting, or on a bug: never leave a
            # waiter hanging.
            for waiters in batch.values():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.cancel()

    def _should_list(self, distinct_ids: int) -> bool:
        return (
            distinct_ids >= BATCH_THRESHOLD
            and not self._list_refused
            and (self._list_pages is None or self._list_pages < distinct_ids)
        )

    async def _serve_from_list(
        self, hook: FivetranHook, batch: dict[str, _Waiters], deadline: float | None
    ) -> None:
        """Resolve (and remove from ``batch``) every id the listing has; the rest get a GET."""
        try:
            items = await hook.alist_connections(deadline=deadline)
        except Exception as error:
            status = error.status_code if isinstance(error, FivetranAPIError) else None
            if status == 429:
                log.warning("Listing Fivetran connections hit the rate limit; %d reads fail.", len(batch))
                for waiters in batch.values():
                    _fail(waiters, error)
                batch.clear()
                return
            if status == 403:
                self._list_refused = True
            log.warning(
                "Listing Fivetran connections failed (%s); reading %d connections one by one.",
                error,
                len(batch),
            )
            return
        self.lists_sent += 1
        self._list_pages = max(1, math.ceil(len(items) / MAX_PAGE_SIZE))
        wanted = set(batch)
        for item in items:
            cid = item.get("id")
            if isinstance(cid, str) and cid in wanted:
                _resolve(batch.pop(cid), item)
                wanted.discard(cid)
        if batch:
            log.info("%d connections were not in the listing; reading them one by one.", len(batch))

    @staticmethod
    async def _serve_one(
        hook: FivetranHook, connection_id: str, waiters: _Waiters, deadline: float | None
    ) -> None:
        if all(waiter.done() for waiter in waiters):
            return
        try:
            data = await hook.aget_connection_details(connection_id, deadline=deadline)
        except Exception as error:
            _fail(waiters, error)
            return
        _resolve(waiters, data)

    # -- the hook -------------------------------------------------------------------------------

    @asynccontextmanager
    async def _hook(self) -> AsyncIterator[FivetranHook]:
        """The current hook, counted as in use until the block ends."""
        slot = self._slot
        if self.clock.monotonic() - slot.born > HOOK_MAX_AGE:
            old, slot = slot, self._new_slot()
            self._slot = slot
            old.retired = True
            if old.in_flight == 0:
                await old.hook.aclose()
        slot.in_flight += 1
        try:
            if not slot.opened:
                # The hook's first request reads the credentials and opens the client; several
                # concurrent first requests would each open a client and leak all but one.
                async with slot.ready:
                    if not slot.opened:
                        await slot.hook.aopen()
                        slot.opened = True
            yield slot.hook
        finally:
            slot.in_flight -= 1
            if slot.retired and slot.in_flight == 0:
                await slot.hook.aclose()

    def _new_slot(self) -> _HookSlot:
        hook = self.options.make_hook()
        hook.clock = self.clock
        return _HookSlot(hook, born=self.clock.monotonic())

    async def aclose(self) -> None:
        """Stop gathering, stop serving, close the hook (the last trigger has left)."""
        tasks = list(self._serving)
        if self._timer is not None:
            tasks.append(self._timer)
            self._timer = self._flush_at = self._deadline = None
        self._pending = {}
        for task in tasks:
            task.cancel()
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._slot.retired = True
            if self._slot.in_flight == 0:
                await self._slot.hook.aclose()


def _resolve(waiters: _Waiters, data: dict[str, Any]) -> None:
    """Hand ``data`` to the first live waiter and a deep copy to each other one."""
    handed = False
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(copy.deepcopy(data) if handed else data)
            handed = True


def _fail(waiters: _Waiters, error: BaseException) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error)


_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[HookOptions, ReadCoordinator]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def shared_reader(
    options: HookOptions, *, clock: Clock = SYSTEM_CLOCK
) -> AsyncIterator[ReadCoordinator]:
    """The running loop's coordinator for ``options``, held until the block ends.

    The last holder to leave closes the coordinator and removes it, so a later trigger gets a new
    one (and a new hook) rather than one whose client is closing. ``clock`` is the coordinator's
    when this call makes it; triggers that share a loop share its clock (tests give them one).
    """
    loop = asyncio.get_running_loop()
    by_options = _REGISTRY.setdefault(loop, {})
    coordinator = by_options.get(options)
    if coordinator is None:
        coordinator = by_options[options] = ReadCoordinator(options, clock=clock)
    coordinator.hold()
    try:
        yield coordinator
    finally:
        if coordinator.release():
            if by_options.get(options) is coordinator:
                del by_options[options]
            if not by_options:
                _REGISTRY.pop(loop, None)
            await coordinator.aclose()


def coordinators(loop: asyncio.AbstractEventLoop) -> dict[HookOptions, ReadCoordinator]:
    """The live coordinators of ``loop`` (a copy), for tests and diagnostics."""
    return dict(_REGISTRY.get(loop, {}))
