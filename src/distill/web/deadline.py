"""A deadline for each request to arrive: a connection that stalls in its headers or body is closed.

uvicorn closes an idle keep-alive connection, but not one that has sent part of a request and
stopped (a slow or stalled client, or a Slowloris attack): each such socket is held for ever.
``with_deadline`` gives uvicorn's h11 protocol a timer, armed when a connection opens and again
after each response: if the request's headers and whole body have not arrived when it fires,
the connection is closed (a request already complete and being answered is left alone). The
app then sees the client leave, which it logs in one line (``distill.web.app.read_body``).
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("distill.web")


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request does not arrive within ``request_timeout``."""

    request_timeout: float  # set by ``with_deadline``
    deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.arm()  # the next request on this keep-alive connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        super().connection_lost(exc)

    def arm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = self.loop.call_later(self.request_timeout, self.expire)

    def expire(self) -> None:
        arrived = self.cycle is not None and not self.cycle.more_body and not self.cycle.response_complete
        if arrived or self.transport.is_closing():
            return
        where = "%s:%d" % tuple(self.client[:2]) if self.client else "a client"
        log.warning("%s: its request did not arrive within %g s: connection closed", where, self.request_timeout)
        self.transport.close()


def with_deadline(seconds: float) -> type[DeadlineProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``, with a deadline of ``seconds``."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"request_timeout": float(seconds)})
