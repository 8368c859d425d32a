"""Sync twins of the async API, safe in WSGI views, Celery tasks, signal receivers and commands.

``async_to_sync`` would start a new event loop per call when there is none, and channels-redis keeps its
connections per loop: connections pile up and "Event loop is closed" follows. Instead every sync call runs
on one long-lived loop: the hub's, in a server process, or else a daemon thread's, started once.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from ..exceptions import AsyncContextError
from .loops import node_loops

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
A = TypeVar("A", bound=Callable[..., Any])
S = TypeVar("S", bound=Callable[..., Any])

_lock = threading.Lock()
_thread: threading.Thread | None = None
_thread_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _thread, _thread_loop
    with _lock:
        if _thread_loop is None or _thread_loop.is_closed():
            _thread_loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_thread_loop.run_forever, name="pushapp-sync", daemon=True)
            _thread.start()
        return _thread_loop


def target_loop() -> asyncio.AbstractEventLoop:
    """Where sync callers run coroutines: a hub's loop in a server process, else the bridge thread's."""
    loops = node_loops()
    return loops[-1] if loops else _background_loop()


async def _cancel_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@atexit.register
def _shutdown() -> None:
    """Stop the bridge loop at exit; closing it lets channels-redis close its connections cleanly."""
    loop, thread = _thread_loop, _thread
    if loop is None or thread is None or loop.is_closed():
        return
    try:
        asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(timeout=5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not loop.is_running():
            loop.close()


def refuse_running_loop(sync_name: str) -> None:
    """A sync call on a thread that runs an event loop would block every connection of the process."""
    if asyncio._get_running_loop() is None:  # no exception raised and caught on every sync send
        return
    raise AsyncContextError(
        f"{sync_name}() was called from a running event loop, where it would block every "
        f"connection; use `await a{sync_name}(...)` instead"
    )


def sync_twin(
    afunc: Callable[P, Coroutine[Any, Any, R]], before: Callable[[], None] | None = None
) -> Callable[P, R]:
    """Make the sync function of an ``a``-prefixed coroutine function; ``before`` runs first, in the
    caller's thread (e.g. to write out queued sends the operation must come after)."""
    sync_name = afunc.__name__[1:]

    @functools.wraps(afunc)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        refuse_running_loop(sync_name)
        if before is not None:
            before()
        return asyncio.run_coroutine_threadsafe(afunc(*args, **kwargs), target_loop()).result()

    wrapper.__name__ = wrapper.__qualname__ = sync_name
    wrapper.__doc__ = f"Sync twin of :func:`{afunc.__name__}`. {afunc.__doc__ or ''}".strip()
    return wrapper


def plan_twins(
    plan: Callable[P, T],
    arun: Callable[[T], Coroutine[Any, Any, R]],
    run: Callable[[T], R],
) -> tuple[Callable[P, Coroutine[Any, Any, R]], Callable[P, R]]:
    """An async function and its sync twin that share ``plan`` (validation and preparation, written once)
    and differ only in how they carry it out: ``arun`` awaited, or ``run`` from sync code.

    ``plan`` is named ``_name``; the functions are ``aname`` and ``name``, with its docstring.
    """
    name = plan.__name__.lstrip("_")

    async def afunc(*args: P.args, **kwargs: P.kwargs) -> R:
        return await arun(plan(*args, **kwargs))

    def func(*args: P.args, **kwargs: P.kwargs) -> R:
        refuse_running_loop(name)
        return run(plan(*args, **kwargs))

    return name_twins(plan, afunc, func)


def name_twins(plan: Callable[..., Any], afunc: A, func: S) -> tuple[A, S]:
    """Give ``afunc`` and ``func`` the names of ``plan``'s twins (``name`` or ``_name``: ``aname`` and
    ``name``) and its docstring."""
    name = plan.__name__.lstrip("_")
    for wrapper, wrapper_name in ((afunc, "a" + name), (func, name)):
        functools.update_wrapper(wrapper, plan)
        wrapper.__name__ = wrapper.__qualname__ = wrapper_name
    return afunc, func
