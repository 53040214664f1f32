"""An in-process aiosmtpd SMTP sink on loopback that records mail and fails on command, for tests."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import threading
import warnings
from dataclasses import dataclass
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.dovecot import free_loopback_port

Outcome = Literal["accepted", "temporary", "permanent", "hung"]

# How long a "hang after DATA" lasts at most; the client under test must time out well before.
HANG_SECONDS = 60.0


@dataclass(frozen=True)
class ReceivedMessage:
    """One SMTP transaction as the sink saw it, whatever it answered."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message_id: str | None
    auth_login: str | None
    outcome: Outcome
    reply: str
    peer: str = ""  # the client's address:port, the same for every transaction of one SMTP connection


class SinkHandler:
    """aiosmtpd handler whose answer to the end of DATA is programmed by the test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts: list[ReceivedMessage] = []
        self._temporary_left = 0
        self._temporary_reply = "421 4.3.2 Service not available, try later"
        self._permanent_reply: str | None = None
        self._rejected: frozenset[str] = frozenset()  # empty: the 5xx is for everyone
        self._hang = False
        self._hold_after: int | None = None
        self.holding = threading.Event()  # set while a DATA reply is held back by hold_after()
        self._released = threading.Event()

    # -- programming (called from the test's thread) ---------------------------------------------------

    def accept(self) -> None:
        with self._lock:
            self._temporary_left = 0
            self._permanent_reply = None
            self._rejected = frozenset()
            self._hang = False

    def fail_temporarily(self, times: int, reply: str = "421 4.3.2 Service not available, try later") -> None:
        """Answer the next `times` transactions with a 4xx, then accept again."""
        with self._lock:
            self._temporary_left = times
            self._temporary_reply = reply

    def reject(self, reply: str = "550 5.1.1 Mailbox unavailable", *, only: tuple[str, ...] = ()) -> None:
        """Answer every transaction (or those to the addresses `only`) with a 5xx until accept()."""
        with self._lock:
            self._permanent_reply = reply
            self._rejected = frozenset(only)

    def hang_after_data(self) -> None:
        """Take the whole message after DATA but never send the final reply (until stop)."""
        with self._lock:
            self._hang = True

    def hold_after(self, accepted: int) -> None:
        """Once `accepted` messages are taken, hold the next DATA reply until `release()`, then accept it."""
        with self._lock:
            self._hold_after = accepted
            self._released.clear()
            self.holding.clear()

    def release(self) -> None:
        with self._lock:
            self._hold_after = None
        self._released.set()

    # -- aiosmtpd hooks (run on the server's loop) ------------------------------------------------------

    async def _held(self) -> None:
        """Wait for release() without blocking the server's loop (other sessions keep being served)."""
        with self._lock:
            hold = self._hold_after is not None and \
                sum(a.outcome == "accepted" for a in self.attempts) >= self._hold_after
        if hold:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self._released.wait, HANG_SECONDS)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or envelope.content or b"")
        await self._held()
        with self._lock:
            if self._hang:
                outcome: Outcome = "hung"
                reply = ""
            elif self._permanent_reply and (not self._rejected or self._rejected & set(envelope.rcpt_tos)):
                outcome, reply = "permanent", self._permanent_reply
            elif self._temporary_left > 0:
                self._temporary_left -= 1
                outcome, reply = "temporary", self._temporary_reply
            else:
                outcome, reply = "accepted", "250 2.0.0 Ok: queued"
            login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
            self.attempts.append(
                ReceivedMessage(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=raw,
                    message_id=_message_id(raw),
                    auth_login=login,
                    outcome=outcome,
                    reply=reply,
                    peer=":".join(map(str, session.peer or ())),
                )
            )
        if outcome == "hung":
            # Never answer; the server's loop cancels this when the sink stops.
            await asyncio.sleep(HANG_SECONDS)
            return "451 4.4.2 Timeout in the sink"
        return reply

    @staticmethod
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        """Accept any LOGIN/PLAIN credentials: the sink tests the client, not passwords."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False)
        return AuthResult(success=True, auth_data=auth_data)


def _message_id(raw: bytes) -> str | None:
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    value = headers.get("Message-ID")
    return str(value).strip() if value else None


class _QuietController(Controller):
    """aiosmtpd warns on every connection that AUTH without TLS is unsafe; on loopback it is intended."""

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return super().factory()


class SmtpSink:
    """A running aiosmtpd server on 127.0.0.1; `messages` are the accepted ones."""

    host = "127.0.0.1"

    def __init__(self, *, auth: bool = False) -> None:
        self.handler = SinkHandler()
        self.port = free_loopback_port()
        # AUTH is offered without TLS only because the sink lives on loopback in tests.
        self._controller = _QuietController(
            self.handler,
            hostname=self.host,
            port=self.port,
            authenticator=SinkHandler.authenticate,
            auth_require_tls=False,
            auth_required=auth,
        )

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.handler.release()  # a held reply must not keep the server's executor thread waiting
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Programming, delegated for readable tests: sink.fail_temporarily(2).
    def accept(self) -> None:
        self.handler.accept()

    def fail_temporarily(self, times: int, reply: str = "421 4.3.2 Service not available, try later") -> None:
        self.handler.fail_temporarily(times, reply)

    def reject(self, reply: str = "550 5.1.1 Mailbox unavailable", *, only: tuple[str, ...] = ()) -> None:
        self.handler.reject(reply, only=only)

    def hang_after_data(self) -> None:
        self.handler.hang_after_data()

    def hold_after(self, accepted: int) -> None:
        self.handler.hold_after(accepted)

    def release(self) -> None:
        self.handler.release()

    @property
    def attempts(self) -> list[ReceivedMessage]:
        with self.handler._lock:
            return list(self.handler.attempts)

    @property
    def messages(self) -> list[ReceivedMessage]:
        return [attempt for attempt in self.attempts if attempt.outcome == "accepted"]
