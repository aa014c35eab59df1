"""JobChain: each recorder's blocking jobs run in order, never two at once,
on a pool shared by many recorders; failures reach the loop; close waits."""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from hub.media.recorder import JobChain


async def test_many_chains_on_one_pool_keep_order_and_run_one_job_at_a_time() -> None:
    loop = asyncio.get_running_loop()
    errors: list[BaseException] = []
    done: dict[int, list[int]] = {c: [] for c in range(40)}
    running: dict[int, bool] = dict.fromkeys(done, False)
    overlaps: list[int] = []
    with ThreadPoolExecutor(4) as pool:
        chains = {c: JobChain(pool, loop, errors.append) for c in done}

        def job(c: int, i: int) -> None:
            if running[c]:
                overlaps.append(c)
            running[c] = True
            for _ in range(200):  # long enough for the other threads to try their luck
                pass
            done[c].append(i)
            running[c] = False

        for i in range(150):
            for c, chain in chains.items():
                assert chain.put(functools.partial(job, c, i))
            if i % 10 == 0:
                await asyncio.sleep(0)  # the loop goes on while the pool works
        await asyncio.gather(*(chain.close() for chain in chains.values()))
    assert overlaps == []
    assert all(seq == list(range(150)) for seq in done.values())
    assert errors == []


async def test_a_failing_job_is_told_to_the_loop_and_the_chain_goes_on() -> None:
    loop = asyncio.get_running_loop()
    told: list[tuple[str, BaseException]] = []
    ran: list[int] = []

    def on_error(exc: BaseException) -> None:
        told.append((threading.current_thread().name, exc))

    def fail() -> None:
        raise OSError(28, "No space left on device")

    with ThreadPoolExecutor(2, thread_name_prefix="writer") as pool:
        chain = JobChain(pool, loop, on_error)
        chain.put(lambda: ran.append(1))
        chain.put(fail)
        chain.put(lambda: ran.append(2))
        await chain.close()
    assert ran == [1, 2]
    assert len(told) == 1 and told[0][0] == threading.current_thread().name  # the loop's thread
    assert isinstance(told[0][1], OSError) and told[0][1].errno == 28


async def test_close_waits_for_a_slow_job() -> None:
    loop = asyncio.get_running_loop()
    release = threading.Event()
    finished: list[str] = []

    def slow() -> None:
        release.wait(30)
        finished.append("slow")

    with ThreadPoolExecutor(2) as pool:
        chain = JobChain(pool, loop, lambda exc: None)
        chain.put(slow)
        chain.put(lambda: finished.append("after"))
        closing = asyncio.ensure_future(chain.close())
        await asyncio.sleep(0.05)
        assert not closing.done() and finished == []
        release.set()
        await closing
    assert finished == ["slow", "after"]


async def test_a_pool_that_is_shut_down_refuses_and_close_returns() -> None:
    loop = asyncio.get_running_loop()
    told: list[BaseException] = []
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    chain = JobChain(pool, loop, told.append)
    assert chain.put(lambda: None) is False
    assert len(told) == 1 and isinstance(told[0], RuntimeError)
    await asyncio.wait_for(chain.close(), 5)  # returns, never waits for a job that cannot run
