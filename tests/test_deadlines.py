"""The body-read watchdog (webhook/deadlines.py): slow reads end in TimeoutError, nothing else is disturbed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from webhook.serving.deadlines import Deadlines

TICK = 0.02


def _run(scenario: Callable[[Deadlines], Awaitable[None]]) -> None:
    """Run `scenario` in an event loop with Deadlines whose watchdog ticks every TICK seconds."""

    async def main() -> None:
        deadlines = Deadlines(tick=TICK)
        watchdog = asyncio.create_task(deadlines.watch())
        try:
            await scenario(deadlines)
        finally:
            watchdog.cancel()

    asyncio.run(main())


async def _never() -> bytes:
    await asyncio.Event().wait()
    return b""


async def _soon(value: bytes) -> bytes:
    await asyncio.sleep(0)
    return value


def test_a_read_past_its_deadline_ends_in_timeout_error_and_the_task_can_go_on() -> None:
    async def scenario(deadlines: Deadlines) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await deadlines.within(0.1, _never())
        elapsed = loop.time() - started
        assert 0.1 <= elapsed < 0.1 + 5 * TICK
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0  # the 408 can still be sent
        await asyncio.sleep(0.01)
        assert len(deadlines) == 0

    _run(scenario)


def test_a_read_in_time_returns_its_value() -> None:
    async def scenario(deadlines: Deadlines) -> None:
        assert await deadlines.within(0.1, _soon(b"body")) == b"body"
        await asyncio.sleep(0.2)  # the watchdog ticks past the deadline of a read that is over: nothing happens
        assert len(deadlines) == 0

    _run(scenario)


def test_another_cancellation_stays_a_cancellation() -> None:
    async def scenario(deadlines: Deadlines) -> None:
        reader = asyncio.create_task(deadlines.within(10, _never()))
        await asyncio.sleep(0.05)
        reader.cancel()  # shutdown, not a deadline
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert len(deadlines) == 0

    _run(scenario)


def test_only_the_slow_reads_of_many_time_out() -> None:
    async def scenario(deadlines: Deadlines) -> None:
        async def one(index: int) -> str:
            try:
                await deadlines.within(0.1, _never() if index % 3 == 0 else _soon(b"x"))
            except TimeoutError:
                return "timeout"
            return "read"

        outcomes = await asyncio.gather(*(one(i) for i in range(30)))
        assert outcomes == ["timeout" if i % 3 == 0 else "read" for i in range(30)]
        assert len(deadlines) == 0

    _run(scenario)


def test_without_the_watchdog_reads_still_work() -> None:
    # The app called without its lifespan (in-process benchmarks): no deadline enforced, nothing breaks.
    async def scenario() -> None:
        assert await Deadlines().within(0.001, _soon(b"late")) == b"late"

    asyncio.run(scenario())
