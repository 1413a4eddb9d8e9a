"""Deadlines for reading request bodies: one watchdog per process instead of one timer per request.

A timer per request (asyncio.timeout) cost more than everything else the HTTP layer does, and nearly every
body is already in when the app starts reading it. The watchdog wakes every `tick` seconds and cancels the
reads that passed their deadline, so a deadline holds to within one tick; the read then ends in TimeoutError,
while a cancellation for any other reason (shutdown) stays a cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Deadlines:
    def __init__(self, tick: float = 0.1) -> None:
        self._tick = tick
        self._pending: dict[asyncio.Task[object], float] = {}  # task -> loop time its read must end by
        self._expired: set[asyncio.Task[object]] = set()

    async def within(self, seconds: float, read: Awaitable[T]) -> T:
        """Await `read`; raise TimeoutError when it is not done `seconds` from now (give or take a tick)."""
        task = asyncio.current_task()
        assert task is not None  # always called from a task: the ASGI app's
        # The task's loop, not get_running_loop(): on Python 3.11 that costs a getpid(2), once per request.
        self._pending[task] = task.get_loop().time() + seconds
        try:
            return await read
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            task.uncancel()
            raise TimeoutError from None
        finally:
            del self._pending[task]
            self._expired.discard(task)

    async def watch(self) -> None:
        """Run for the app's lifetime (AppState.background)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._tick)
            if not self._pending:
                continue
            now = loop.time()
            for task, deadline in list(self._pending.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()

    def __len__(self) -> int:
        return len(self._pending)
