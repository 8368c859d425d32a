"""The client: one connection at a time, opened again whenever it ends, until the server says stop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import PushappError, SubscriptionRefused, TokenExpired
from .backoff import Backoff
from .closes import needs_new_token, stop_error
from .errors import ClientClosed, ConnectionFailed, HandshakeRefused, RefreshRefused
from .items import Missed, Position, Push
from .positions import Positions
from .store import MemoryPositionStore, PositionStore
from .transport import default_origin, handshake_status, open_socket

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

logger = logging.getLogger(__name__)

#: A token, or a callable (sync or ``async``) that returns one: called for every connection attempt.
TokenSource = str | Callable[[], str | Awaitable[str]] | None

#: Frame types the server sends of its own; with ``ENVELOPE`` off every other text frame is a push.
SERVER_FRAMES = frozenset(
    {"welcome", "pong", "error", "recovered", "missed", "subscribed", "unsubscribed", "refreshed",
     "presence", "reconnect", "push"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Entry:
    """An item for the application, and what handling it moves: ``stream`` to ``position``."""

    item: Push | Missed
    stream: str | None = None
    position: Position | None = None
    ack: bool = False


_END = _Entry(Missed(None, "end"))


class Client:
    """A pushapp client for Python services and devices (docs/client.md)::

    async with Client("wss://example.com/ws/push/", token=get_token) as client:
        await client.subscribe("room:1")
        async for item in client:
            if isinstance(item, Missed):
                refetch(item.stream)
            else:
                handle(item.data)
    """

    def __init__(
        self,
        url: str,
        token: TokenSource,
        *,
        store: PositionStore | None = None,
        backoff: Backoff | None = None,
        origin: str | None = None,
        auto_ack: bool = True,
        send_acks: bool = True,
        ack_interval: float = 0.5,
        open_timeout: float = 10.0,
        max_size: int | None = 1 << 24,
    ) -> None:
        self.url = url
        self.origin = origin or default_origin(url)
        self.store: PositionStore = store if store is not None else MemoryPositionStore()
        self.backoff = backoff or Backoff()
        self.auto_ack = auto_ack
        self.send_acks = send_acks
        self.ack_interval = ack_interval
        self.open_timeout = open_timeout
        self.max_size = max_size
        #: The welcome of the current connection (``None`` before the first); ``client_id`` and ``uid``
        #: are read from it.
        self.welcome: dict[str, Any] | None = None
        self._token = token
        self._positions: Positions | None = None
        self._groups: dict[str, bool] = {}  # subscribed, with their "latest": asked again on every welcome
        self._answers: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._items: asyncio.Queue[_Entry] = asyncio.Queue()
        self._last: _Entry | None = None
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()  # welcomed, and the groups asked for again were answered
        self._welcomed = False  # the current connection was welcomed
        self._rejoining: set[str] = set()  # groups asked for again on this connection, not answered yet
        self._stopped = asyncio.Event()
        self._error: BaseException | None = None
        self._heard = 0.0
        self._not_before = 0.0  # a draining server's "reconnect" delay, as a monotonic time
        self._run_task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def client_id(self) -> str | None:
        return None if self.welcome is None else self.welcome.get("client_id")

    @property
    def uid(self) -> str | None:
        return None if self.welcome is None else self.welcome.get("uid")

    @property
    def connected(self) -> bool:
        """Whether a connection is open, welcomed, and in its groups again (the subscriptions made
        before it are answered) right now."""
        return self._ready.is_set()

    async def connect(self) -> Client:
        """Start, and return once the first connection is welcomed. Raises what stopped the client
        instead (``AuthenticationFailed`` on 4001, …); wrap it in ``asyncio.timeout`` to bound the wait."""
        await self._start()
        await self._until_ready()
        return self

    async def _start(self) -> None:
        if self._run_task is None and not self._stopped.is_set():
            self._positions = Positions(await self.store.load())
            self._run_task = asyncio.create_task(self._run())
            self._flusher = asyncio.create_task(self._flush_every())

    async def close(self) -> None:
        """Save what was handled, send the last acks, close the connection and end the iteration."""
        if self._last is not None and self.auto_ack:
            self._handle(self._last)
        self._last = None
        self._stop(None)
        if self._flusher is not None:
            await self._flusher  # its last flush, on the open connection
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._run_task is not None:
            self._run_task.cancel()
            await asyncio.gather(self._run_task, return_exceptions=True)

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> Push | Missed:
        """The next push or notice, in the order the server sent them. Asking for it means the one before
        was handled (with ``auto_ack``). Ends when the client is closed; raises what stopped it."""
        if self._last is not None and self.auto_ack:
            self._handle(self._last)
        self._last = None
        await self._start()
        entry = await self._items.get()
        if entry is _END:
            self._items.put_nowait(_END)
            if self._error is not None and not isinstance(self._error, ClientClosed):
                raise self._error
            raise StopAsyncIteration
        self._last = entry
        return entry.item

    # -- requests ----------------------------------------------------------------------------------------

    async def subscribe(self, group: str, latest: bool = False) -> None:
        """Join ``group``, if the server allows it (its ``AUTHORIZE_SUBSCRIBE``); asked again after every
        reconnect. Raises :class:`~pushapp.exceptions.SubscriptionRefused` with the server's reason.
        ``latest``: the server sends the group stream's last stored push right away."""
        await self._start()
        self._groups[group] = latest
        answer = self._answer("subscribe", group)
        if self._welcomed:
            await self._send_subscribe(group, latest)
        await self._wait(answer)

    async def unsubscribe(self, group: str) -> None:
        """Leave ``group`` (and do not join it again on reconnect)."""
        self._groups.pop(group, None)
        self._rejoined(group)
        if self._welcomed:
            answer = self._answer("unsubscribe", group)
            await self._send({"type": "unsubscribe", "group": group})
            await self._wait(answer)

    async def send(self, data: Any) -> None:
        """A ``message`` frame (Django's ``message_received`` signal fires with ``data``); waits for a
        welcomed connection. Not queued across reconnects: a message sent on a connection that drops may
        be lost."""
        await self._until_ready()
        await self._send({"type": "message", "data": data})

    async def refresh(self, token: str | None = None) -> float | None:
        """Extend the connection's life in-band with ``token`` (default: a new one from the token
        callback); return the new expiry (unix seconds). Raises :class:`RefreshRefused`. A given token
        also replaces a static one for later reconnects."""
        if token is None:
            token = await self._fresh_token()
        elif not callable(self._token):
            self._token = token
        await self._until_ready()
        answer = self._answer("refresh", "")
        await self._send({"type": "refresh", "token": token})
        expires: float | None = await self._wait(answer)
        return expires

    async def ack(self, push: Push) -> None:
        """The application handled ``push`` (and everything before it on its stream): its position is
        saved and acknowledged at the next flush. Only needed with ``auto_ack=False``."""
        position = push.position
        if position is not None and push.stream is not None and self._positions is not None:
            self._positions.handle(push.stream, position, self.send_acks)

    # -- the connection loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        try:
            while True:
                wait = self._not_before - time.monotonic()
                if wait > 0:  # a draining server said when: not before, and the backoff starts afresh
                    await asyncio.sleep(wait)
                    failures = 0
                elif failures:
                    await asyncio.sleep(self.backoff.delay(failures - 1))
                try:
                    welcomed, code, reason = await self._connect_once()
                except (OSError, TimeoutError, PushappError) as error:
                    if isinstance(error, HandshakeRefused):
                        raise
                    failures += 1
                    if self.backoff.max_attempts is not None and failures >= self.backoff.max_attempts:
                        raise ConnectionFailed(f"{failures} connection attempts failed") from error
                    logger.info("pushapp client: connecting to %s failed: %r", self.url, error)
                    continue
                stop = stop_error(code, reason)
                if stop is not None:
                    raise stop
                if needs_new_token(code) and not callable(self._token):
                    raise TokenExpired(f"closed by the server with {code}, and the token is a fixed string")
                failures = 1 if welcomed else failures + 1
                if self.backoff.max_attempts is not None and failures >= self.backoff.max_attempts:
                    raise ConnectionFailed(f"{failures} connection attempts failed (last close: {code})")
                logger.info("pushapp client: connection closed with %s, reconnecting", code)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            self._stop(error)

    async def _connect_once(self) -> tuple[bool, int | None, str]:
        """One connection, from the handshake to its close: (whether it was welcomed, code, reason)."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        try:
            token = await self._fresh_token()
        except Exception as error:  # the callback's service is down, say: a failed attempt, retried
            raise OSError(f"the token callback failed: {error!r}") from error
        try:
            ws = await open_socket(self.url, self.origin, self.open_timeout, self.max_size)
        except InvalidHandshake as error:
            status = handshake_status(error)
            if status is not None and 400 <= status < 500:
                raise HandshakeRefused(status) from error
            raise OSError(f"handshake failed: {error}") from error
        self._ws = ws
        welcomed = False
        heartbeat: asyncio.Task[None] | None = None
        try:
            assert self._positions is not None
            await ws.send(dumps({"type": "auth", "token": token, "recover": self._positions.recover()}))
            async with asyncio.timeout(self.open_timeout):  # a server that accepts and then says nothing
                while not welcomed:
                    welcomed = self._on_first(await ws.recv())
            self._heard = time.monotonic()
            heartbeat = await self._on_welcome(ws)
            async for message in ws:
                self._heard = time.monotonic()
                self._on_message(message)
        except ConnectionClosed:
            pass
        finally:
            ws.transport.abort()  # a no-op once closed; else (a timeout, a cancel) nothing lingers
            self._ws = None
            self._welcomed = False
            self._ready.clear()
            if heartbeat is not None:
                heartbeat.cancel()
            self._reject(("refresh", ""), ConnectionError("the connection dropped before the answer"))
            for key in [key for key in self._answers if key[0] == "unsubscribe"]:
                self._resolve(key, None)  # a new connection starts in no group
        received = ws.protocol.close_rcvd  # None: no close frame came (1006, the socket just ended)
        return welcomed, (received.code if received else 1006), (received.reason if received else "")

    def _on_first(self, message: str | bytes) -> bool:
        frame = parse(message)
        if frame is None or frame.get("type") != "welcome":
            logger.warning("pushapp client: expected a welcome, got %r", message[:200])
            return False
        self.welcome = frame
        assert self._positions is not None
        self._positions.welcome(frame.get("streams"))
        return True

    async def _on_welcome(self, ws: ClientConnection) -> asyncio.Task[None] | None:
        """Ask again for the groups, before anything else is read (connected once they are answered);
        start the heartbeat."""
        self._welcomed = True
        self._rejoining = set(self._groups)
        if not self._rejoining:
            self._ready.set()
        for group, latest in list(self._groups.items()):
            await self._send_subscribe(group, latest)
        interval = (self.welcome or {}).get("ping_interval")
        if isinstance(interval, (int, float)) and interval > 0:
            return asyncio.create_task(self._heartbeat(ws, float(interval)))
        return None

    async def _heartbeat(self, ws: ClientConnection, interval: float) -> None:
        """A ping every interval; nothing heard for two intervals means the server is gone: drop the
        socket (a dead peer would not answer a close either) and reconnect. Looks twice per interval."""
        pinged = time.monotonic()
        while True:
            await asyncio.sleep(interval / 2)
            now = time.monotonic()
            if now - self._heard >= 2 * interval:
                logger.info("pushapp client: nothing heard for %.1f s, reconnecting", now - self._heard)
                ws.transport.abort()
                return
            if now - pinged >= interval:
                pinged = now
                with contextlib.suppress(Exception):
                    await ws.send('{"type":"ping"}')

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._items.put_nowait(_Entry(Push(message)))
            return
        frame = parse(message)
        envelope = (self.welcome or {}).get("envelope", True) is not False
        kind = frame.get("type") if frame is not None else None
        if not envelope and kind not in SERVER_FRAMES:
            self._items.put_nowait(_Entry(Push(bare_data(message))))
            return
        if frame is None:
            logger.debug("pushapp client: a frame that is not a JSON object: %r", message[:200])
            return
        assert self._positions is not None
        if kind == "push":
            self._on_push(frame)
        elif kind == "missed":
            stream = frame.get("stream")
            self._items.put_nowait(_Entry(Missed(stream if isinstance(stream, str) else None)))
        elif kind == "recovered":
            streams = frame.get("streams")
            for stream, ok in (streams if isinstance(streams, dict) else {}).items():
                if ok is False:
                    position = self._positions.unrecovered(stream)
                    self._items.put_nowait(_Entry(Missed(stream, "recovery"), stream, position))
        elif kind == "subscribed":
            self._resolve(("subscribe", str(frame.get("group"))), None)
            self._rejoined(str(frame.get("group")))
        elif kind == "unsubscribed":
            self._resolve(("unsubscribe", str(frame.get("group"))), None)
        elif kind == "refreshed":
            self._resolve(("refresh", ""), frame.get("expires"))
        elif kind == "reconnect":
            delay = frame.get("delay")
            if isinstance(delay, (int, float)):
                self._not_before = time.monotonic() + float(delay)
        elif kind == "error":
            self._on_error(frame)

    def _on_push(self, frame: dict[str, Any]) -> None:
        assert self._positions is not None
        stream, offset, epoch, version = (frame.get(k) for k in ("stream", "offset", "epoch", "version"))
        push = Push(
            frame.get("data"),
            stream if isinstance(stream, str) else None,
            offset if isinstance(offset, int) else None,
            epoch if isinstance(epoch, str) else None,
            version if isinstance(version, int) else None,
        )
        if self._positions.receive(push):
            self._items.put_nowait(_Entry(push, push.stream, push.position, ack=True))

    def _on_error(self, frame: dict[str, Any]) -> None:
        code, detail, group = frame.get("code"), str(frame.get("detail", "")), frame.get("group")
        if code == "refresh_refused":
            self._reject(("refresh", ""), RefreshRefused(detail))
        elif isinstance(group, str) and code in ("subscribe_refused", "bad_group", "too_many_groups"):
            self._groups.pop(group, None)
            self._rejoined(group)
            if not self._reject(("subscribe", group), SubscriptionRefused(f"{group}: {detail} ({code})")):
                logger.warning("pushapp client: subscribing again to %r was refused: %s", group, detail)
        else:
            logger.debug("pushapp client: the server answered with an error: %r", frame)

    def _rejoined(self, group: str) -> None:
        if group in self._rejoining:
            self._rejoining.discard(group)
            if not self._rejoining and self._welcomed:
                self._ready.set()

    # -- acks and the store ------------------------------------------------------------------------------

    def _handle(self, entry: _Entry) -> None:
        if entry.stream is not None and entry.position is not None and self._positions is not None:
            self._positions.handle(entry.stream, entry.position, entry.ack and self.send_acks)

    async def _flush_every(self) -> None:
        """Every ``ack_interval``, and once more when the client stops."""
        while True:
            stopping = self._stopped.is_set()
            if not stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), self.ack_interval)
            try:
                await self.flush()
            except Exception:
                logger.exception("pushapp client: saving or acknowledging positions failed")
            if stopping:
                return

    async def flush(self) -> None:
        """Save the handled positions if they moved, and acknowledge them (one ack per stream, the
        highest offset), now rather than at the next ``ack_interval``; acks wait for a welcomed
        connection."""
        positions = self._positions
        if positions is None:
            return
        async with self._flushing:
            await self._save_and_ack(positions)

    async def _save_and_ack(self, positions: Positions) -> None:
        if positions.changed:
            positions.changed = False
            await self.store.save(dict(positions.handled))
        ws = self._ws
        if positions.unacked and ws is not None and self.connected:
            unacked, positions.unacked = positions.unacked, {}
            for stream, offset in unacked.items():
                await ws.send(dumps({"type": "ack", "stream": stream, "offset": offset}))

    # -- plumbing ----------------------------------------------------------------------------------------

    async def _fresh_token(self) -> str | None:
        source = self._token
        if not callable(source):
            return source
        token = source()
        if inspect.isawaitable(token):
            token = await token
        return token

    async def _send(self, frame: dict[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        ws = self._ws
        if ws is None:
            raise ConnectionError("the connection dropped")
        try:
            await ws.send(dumps(frame))
        except ConnectionClosed as closed:
            raise ConnectionError("the connection dropped") from closed

    async def _send_subscribe(self, group: str, latest: bool) -> None:
        frame: dict[str, Any] = {"type": "subscribe", "group": group}
        if latest:
            frame["latest"] = True
        with contextlib.suppress(Exception):  # a dropped connection: asked again on the next welcome
            await self._send(frame)

    def _answer(self, kind: str, key: str) -> asyncio.Future[Any]:
        future = self._answers.get((kind, key))
        if future is None or future.done():
            future = self._answers[(kind, key)] = asyncio.get_running_loop().create_future()
        return future

    def _resolve(self, key: tuple[str, str], value: Any) -> None:
        future = self._answers.pop(key, None)
        if future is not None and not future.done():
            future.set_result(value)

    def _reject(self, key: tuple[str, str], error: BaseException) -> bool:
        future = self._answers.pop(key, None)
        if future is None or future.done():
            return False
        future.set_exception(error)
        future.exception()  # marked retrieved: whoever awaits it still gets it, if anyone does
        return True

    async def _wait(self, future: asyncio.Future[Any]) -> Any:
        """The answer, or what stopped the client meanwhile."""
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({future, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if future.done():
            return future.result()
        raise self._error or ClientClosed("the client is closed")

    async def _until_ready(self) -> None:
        await self._start()
        if self._stopped.is_set():
            raise self._error or ClientClosed("the client is closed")
        ready = asyncio.ensure_future(self._ready.wait())
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            stopped.cancel()
        if not self._ready.is_set():
            raise self._error or ClientClosed("the client is closed")

    def _stop(self, error: BaseException | None) -> None:
        if self._stopped.is_set():
            return
        self._error = error
        self._stopped.set()
        self._items.put_nowait(_END)
        for future in self._answers.values():
            if not future.done():
                future.set_exception(error or ClientClosed("the client is closed"))
                future.exception()  # retrieved: nobody may be waiting for it
        self._answers.clear()


def parse(message: str | bytes) -> dict[str, Any] | None:
    try:
        frame = json.loads(message)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def bare_data(text: str) -> Any:
    """A push sent bare (``ENVELOPE`` off): its JSON, or a str payload as the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
