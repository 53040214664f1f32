"""Throw-away IMAP (pymap, in memory) and SMTP (aiosmtpd) servers on loopback for `curmail demo`."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import secrets
import socket
import threading
from argparse import Namespace
from concurrent.futures import Future
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config as DictConfig
from pymap.backend.dict import DictBackend, Login
from pymap.backend.dict.filter import FilterSet
from pymap.backend.dict.mailbox import MailboxData, MailboxSet
from pymap.imap import IMAPServer
from pymap.parsing.specials import ObjectId
from pymap.parsing.specials.flag import Flag, Wildcard
from pymap.user import Passwords, UserMetadata
from pysasl.hashing import BuiltinHash

DEMO_USER = "adm"
LOOPBACK = "127.0.0.1"
# Folders a typical municipal mailbox has; curmail creates any others it needs itself.
DEMO_FOLDERS = ("Sent",)
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class SentMessage:
    """One message the SMTP sink accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message_id: str | None


class _DemoConfig(DictConfig):
    """pymap's in-memory config without the slow FQDN lookup in the greeting."""

    @property
    def greeting(self) -> bytes:
        return b"Server ready curmail-demo"


class _KeywordMailbox(MailboxData):
    """pymap's dict mailbox keeps only system flags; curmail's default marking is a keyword."""

    @property
    def permanent_flags(self) -> frozenset[Flag]:
        return super().permanent_flags | {Wildcard}


class _KeywordMailboxSet(MailboxSet):
    """MailboxSet whose folders store keywords (PERMANENTFLAGS includes \\*).

    Relies on pymap 0.36's private attributes; tests/daemon/test_localservers.py notices a change.
    """

    def __init__(self) -> None:
        super().__init__()
        self._inbox = _KeywordMailbox(self._content_cache, self._thread_cache)

    async def add_mailbox(self, name: str) -> ObjectId:
        async with self._set_lock.read_lock():
            if name in self._set:
                raise ValueError(name)
        async with self._set_lock.write_lock():
            self._set[name] = mailbox = _KeywordMailbox(self._content_cache, self._thread_cache)
            return mailbox.mailbox_id


def _pymap_args(password: str) -> Namespace:
    # pymap builds its config from argparse results; these are the fields its constructors read.
    return Namespace(
        host=LOOPBACK, port=0, debug=False, cert=None, key=None, tls=False,
        demo_data=False, demo_user=DEMO_USER, demo_password=password, passlib_cfg=None,
        proxy_protocol=None, inherited_sockets=None,
    )


class _ImapThread:
    """pymap's dict backend served by an asyncio loop on a daemon thread."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="curmail-demo-imap", daemon=True)
        self._ready: Future[int] = Future()
        self._stopped: asyncio.Event | None = None

    def start(self) -> None:
        self._thread.start()
        self.port = self._ready.result(timeout=START_TIMEOUT)

    def stop(self) -> None:
        if self._stopped is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(START_TIMEOUT)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        # Plain LOGIN without STARTTLS (tls=False) is fine: it only ever listens on loopback.
        # The password is random, in memory and for one demo run: 500,000 PBKDF2 rounds (pysasl's
        # default, 0.25 s per login) would only slow the demo down.
        config = _DemoConfig.from_args(
            _pymap_args(self.password), reject_dnsbl=False, invalid_user_sleep=0.0,
            hash_context=BuiltinHash(rounds=1000),
        )
        login = Login(config)
        hashed = await Passwords(config).hash_password(self.password)
        await login.demo_user_identity.set(UserMetadata(config, DEMO_USER, password=hashed))
        mailbox_set = _KeywordMailboxSet()
        for folder in DEMO_FOLDERS:
            await mailbox_set.add_mailbox(folder)
        config.set_cache[DEMO_USER] = (mailbox_set, FilterSet())
        backend = DictBackend(login, config)
        config.apply_context()
        async with AsyncExitStack() as stack:
            await backend.start(stack)
            callback = ProxyProtocolReader(config.proxy_protocol).get_callback(IMAPServer(backend.login, config))
            server = await asyncio.start_server(callback, host=LOOPBACK, port=0)
            self._ready.set_result(server.sockets[0].getsockname()[1])
            try:
                await self._stopped.wait()
            finally:
                server.close()
                # Open sessions (an IDLE, say) would keep wait_closed() waiting: end them first.
                for task in asyncio.all_tasks() - {asyncio.current_task()}:
                    task.cancel()
                with suppress(TimeoutError):
                    await asyncio.wait_for(server.wait_closed(), START_TIMEOUT)


class _SinkHandler:
    """Records every accepted message; appends nothing anywhere (curmail copies to Sent itself)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[SentMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or envelope.content or b"")
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        message_id = headers.get("Message-ID")
        with self._lock:
            self.messages.append(
                SentMessage(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=raw,
                    message_id=str(message_id).strip() if message_id else None,
                )
            )
        return "250 2.0.0 Ok: queued"

    @staticmethod
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        return AuthResult(success=isinstance(auth_data, LoginPassword), auth_data=auth_data)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class LocalServers:
    """Running demo servers; call stop() when done (also a context manager)."""

    imap_port: int
    smtp_port: int
    user: str
    password: str
    workdir: Path
    _imap: _ImapThread
    _smtp: Controller
    _sink: _SinkHandler
    host: str = LOOPBACK

    def sent_messages(self) -> list[SentMessage]:
        with self._sink._lock:
            return list(self._sink.messages)

    def stop(self) -> None:
        self._smtp.stop()
        self._imap.stop()

    def __enter__(self) -> LocalServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_servers(workdir: Path) -> LocalServers:
    """Start an empty in-memory IMAP mailbox (INBOX, Sent) and an SMTP sink on 127.0.0.1.

    Nothing is written to `workdir`; it is kept for callers that place the database next to it.
    The IMAP server offers IDLE, MOVE, UIDPLUS and keywords; both accept LOGIN/PLAIN without TLS.
    """
    password = secrets.token_urlsafe(12)
    imap = _ImapThread(password)
    imap.start()
    sink = _SinkHandler()
    smtp = Controller(
        sink, hostname=LOOPBACK, port=_free_port(),
        authenticator=_SinkHandler.authenticate, auth_require_tls=False,
    )
    try:
        smtp.start()
    except BaseException:
        imap.stop()
        raise
    return LocalServers(
        imap_port=imap.port, smtp_port=smtp.port, user=DEMO_USER, password=password,
        workdir=Path(workdir), _imap=imap, _smtp=smtp, _sink=sink,
    )
