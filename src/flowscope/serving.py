"""What `flowscope serve` gives uvicorn: connection limits and an HTTP protocol with timeouts.

uvicorn (0.55, httptools) has no header read timeout and no header size limit: a client that
sends one header byte every few seconds, or endless headers, holds a connection (and memory)
for as long as it likes. And when the app answers before the request body has arrived (401 for
a bad token, 413, 408), uvicorn keeps the connection open and discards whatever the client
still sends, for as long as it sends. `GuardedHttpProtocol` closes those connections.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from flowscope.deadlines import sweeper
from flowscope.settings import Settings, get_settings

MAX_HEADER_BYTES = 64 * 1024  # request line and headers; cookies and tokens fit many times over
# After an answer sent before the body arrived, how long the rest of the body is read and
# dropped before the connection is closed. Closing at once would make the kernel reset the
# connection while the client is still sending, and many clients (which send the whole body
# before they read) would then report "connection reset" instead of the 401 or 413.
LINGER_SECONDS = 2.0

PROTOCOL = "flowscope.serving:GuardedHttpProtocol"


class HeadersTooLarge(Exception):
    """Raised from a parser callback: httptools turns it into a parse error, answered 400."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a header size limit, and a close
    after an answer that did not wait for the request body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # From the environment, like the app's settings: worker processes build their own.
        self.header_timeout = get_settings().header_timeout_seconds
        self._sweeper = sweeper(self.loop)  # one timer for all connections, not one each
        self._header_bytes = 0
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()  # uvicorn itself waits forever for a first request

    def connection_lost(self, exc: Exception | None) -> None:
        self._sweeper.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the rest of a body nobody will read
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        # A new connection's timer runs from connect; a keep-alive connection's from the first
        # byte of its next request (idle time in between is uvicorn's timeout_keep_alive).
        if self not in self._sweeper:
            self._arm_header_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._sweeper.discard(self)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not self.transport.is_closing():
            self._linger()  # answered before the body arrived: do not read it
            return
        super().on_response_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise HeadersTooLarge

    def _arm_header_timer(self) -> None:
        self._sweeper.add(self, self.header_timeout, self._headers_timed_out)

    def _headers_timed_out(self) -> None:
        if not self.transport.is_closing():
            self.logger.info("closed a connection whose request headers took too long")
            self.transport.close()

    def _linger(self) -> None:
        """Half-close: the client reads the answer and then end of stream; what it still
        sends is dropped; the connection is closed after LINGER_SECONDS at the latest."""
        self.server_state.total_requests += 1
        self._lingering = True
        self.flow.resume_reading()  # keep draining, or the client blocks and never reads
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:  # TLS cannot half-close
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The limits `serve` runs with (README, "Connection limits")."""
    return {
        "http": PROTOCOL,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,  # the same limit if h11 is chosen
    }
