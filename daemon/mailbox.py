"""The IMAP mailbox adapter: the only module that imports imapclient; typed results, curmail's errors.

Protocol references:
- RFC 3501 (IMAP4rev1): SELECT/UIDVALIDITY (§2.3.1.1), UID SEARCH (§6.4.4), FETCH BODY.PEEK[],
  RFC822.SIZE, INTERNALDATE (§6.4.5), STORE (§6.4.6), COPY (§6.4.7), APPEND (§6.3.11), NOOP (§6.1.2).
- RFC 2177 (IDLE): the client must re-issue IDLE at least every 29 minutes.
- RFC 6851 (MOVE); RFC 4315 (UIDPLUS: UID EXPUNGE) for the COPY + \\Deleted fallback.
- RFC 6154 (SPECIAL-USE): finding the \\Sent folder.
- RFC 2595 / RFC 8314: STARTTLS on 143 and implicit TLS on 993.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imapclient import _parse_untagged_response

from daemon.errors import ConfigError, MailboxAuthError, MailboxError, MailboxGone

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]
MarkMode = Literal["keyword", "seen", "move"]

DEFAULT_KEYWORD = "$Curmail"
DEFAULT_PROCESSED_FOLDER = "Processed"
FALLBACK_SENT_FOLDER = "Sent"

SEEN = "\\Seen"
DELETED = "\\Deleted"
SENT_SPECIAL_USE = b"\\Sent"

# RFC 2177 lets a server drop an IDLE after 30 minutes; NAT boxes often drop sooner. One IDLE
# command never lasts longer than this, whatever the caller asks.
MAX_IDLE_SECONDS = 25 * 60
# Once a response has begun to arrive during IDLE, the rest of its line must follow within this.
IDLE_LINE_SECONDS = 30.0

# Batches bounded by count and by bytes keep memory flat however large the backlog.
FETCH_BATCH_COUNT = 200
FETCH_BATCH_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ImapEndpoint:
    """Where and how to log in; the password never appears in repr() or logs."""

    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    timeout: float = 30.0
    # For private CAs or tests; None means the system's default verification.
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.security not in ("ssl", "starttls", "none"):
            raise ConfigError(f"mailbox.security: «{self.security}» — допустимо ssl, starttls или none")
        if self.security == "none" and not is_loopback(self.host):
            raise ConfigError(
                f"mailbox.security = \"none\" разрешено только для локального адреса, а host = «{self.host}»"
            )
        if self.timeout <= 0:
            raise ConfigError(f"mailbox.timeout должен быть больше нуля, а не {self.timeout}")


@dataclass(frozen=True)
class FetchedMessage:
    """One message as fetched: INTERNALDATE is the receipt time deadlines count from."""

    uid: int
    internal_date: datetime  # aware, UTC
    size: int
    raw: bytes


@dataclass(frozen=True)
class FolderState:
    """What SELECT reported (RFC 3501 §6.3.1); a new uidvalidity means every stored UID is void."""

    uidvalidity: int
    uidnext: int | None
    exists: int


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; the only hosts where plaintext IMAP is allowed."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@contextmanager
def _translate(action: str, mailbox: Mailbox | None = None) -> Iterator[None]:
    """Turn imapclient/imaplib/socket errors into curmail's hierarchy; a dead link is forgotten."""
    try:
        yield
    except MailboxError:
        raise
    except ssl.SSLCertVerificationError as exc:
        # Not a dropped link but a setup problem; retrying will not help until someone acts.
        if mailbox is not None:
            mailbox._drop()
        raise MailboxError(f"IMAP {action}: сертификат сервера не прошёл проверку ({exc.verify_message})") from exc
    except (IMAPClientAbortError, OSError) as exc:
        # imaplib's abort means the server said BYE or the stream ended; OSError covers refused
        # connections, resets, TLS failures and socket timeouts.
        if mailbox is not None:
            mailbox._drop()
        raise MailboxGone(f"IMAP {action}: соединение потеряно ({exc})") from exc
    except IMAPClientError as exc:
        if "* BYE" in str(exc):
            # imapclient reports a BYE in answer to IDLE as a plain error, not as an abort.
            if mailbox is not None:
                mailbox._drop()
            raise MailboxGone(f"IMAP {action}: сервер закрыл соединение ({exc})") from exc
        raise MailboxError(f"IMAP {action}: сервер ответил ошибкой ({exc})") from exc


class Mailbox:
    """One IMAP session on one folder. Not thread-safe; the caller reconnects after MailboxGone."""

    def __init__(self, endpoint: ImapEndpoint) -> None:
        self.endpoint = endpoint
        self._client: imapclient.IMAPClient | None = None
        self._capabilities: frozenset[str] = frozenset()
        self._permanent_flags: frozenset[str] = frozenset()
        self._selected: str | None = None

    def __repr__(self) -> str:
        e = self.endpoint
        return f"<Mailbox {e.username}@{e.host}:{e.port}/{e.folder} {'open' if self._client else 'closed'}>"

    def __enter__(self) -> Mailbox:
        if self._client is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- session -------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection (TLS per `security`) and LOGIN.

        Raises MailboxAuthError for refused credentials, MailboxGone when the server cannot be
        reached or the link fails, MailboxError for anything else the server refuses.
        """
        self.close()
        e = self.endpoint
        timeout = imapclient.SocketTimeout(connect=e.timeout, read=e.timeout)
        context = e.ssl_context or ssl.create_default_context()
        log.debug("IMAP connect %s:%s (%s) as %s", e.host, e.port, e.security, e.username)
        with _translate("connect"):
            client = imapclient.IMAPClient(
                e.host, port=e.port, ssl=e.security == "ssl", ssl_context=context, timeout=timeout
            )
        # Times come back as aware datetimes in the server's offset, not naive local time.
        client.normalise_times = False
        self._client = client
        with _translate("login", self):
            if e.security == "starttls":
                client.starttls(context)
            try:
                client.login(e.username, e.password)
            except LoginError as exc:
                self._drop()
                if "UNAVAILABLE" in str(exc):
                    raise MailboxError(f"IMAP login: сервер временно недоступен ({exc})") from exc
                raise MailboxAuthError(
                    f"IMAP: сервер {e.host}:{e.port} отклонил вход пользователя «{e.username}» ({exc})"
                ) from exc
            self._capabilities = frozenset(
                c.decode("ascii", "replace").upper() for c in client.capabilities()
            )

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities announced after login, upper-case (e.g. 'IDLE', 'MOVE', 'UIDPLUS')."""
        return self._capabilities

    @property
    def has_idle(self) -> bool:
        return "IDLE" in self._capabilities

    def _require(self) -> imapclient.IMAPClient:
        if self._client is None:
            raise MailboxGone("IMAP: нет соединения, нужен connect()")
        return self._client

    def _require_selected(self) -> imapclient.IMAPClient:
        client = self._require()
        if self._selected is None:
            self.select()
        return client

    def _drop(self) -> None:
        """Forget a broken connection without talking to the server again."""
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            # The link is already broken; there is nothing left to report.
            with suppress(Exception):
                client.shutdown()

    def close(self) -> None:
        """LOGOUT politely if possible; never raises."""
        client, self._client, self._selected = self._client, None, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            # Closing a broken link must not mask the error that brought us here.
            with suppress(Exception):
                client.shutdown()

    def noop(self) -> list[tuple]:
        """NOOP (RFC 3501 §6.1.2): keeps the link alive and collects pending untagged responses."""
        client = self._require()
        with _translate("NOOP", self):
            _, responses = client.noop()
        return list(responses)

    # -- folder -------------------------------------------------------------------------------------

    def select(self) -> FolderState:
        """SELECT the configured folder read-write (flags must be storable)."""
        client = self._require()
        folder = self.endpoint.folder
        with _translate(f"SELECT {folder}", self):
            info = client.select_folder(folder)
        self._selected = folder
        self._permanent_flags = frozenset(
            _text(flag) for flag in info.get(b"PERMANENTFLAGS", ())
        )
        uidnext = info.get(b"UIDNEXT")
        return FolderState(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(uidnext) if uidnext is not None else None,
            exists=int(info.get(b"EXISTS", 0)),
        )

    def uids_after(self, last_uid: int, *, exclude_keyword: str | None = None) -> list[int]:
        """UIDs above `last_uid`, ascending, optionally without those carrying a keyword.

        `UID n:*` with n above the highest UID still matches the last message (RFC 3501 §6.4.8:
        '*' is the largest UID in use, and n:m is the same set as m:n), so results are filtered.
        """
        client = self._require_selected()
        criteria: list[str] = ["UID", f"{last_uid + 1}:*"]
        if exclude_keyword:
            criteria += ["NOT", "KEYWORD", exclude_keyword]
        with _translate("UID SEARCH", self):
            found = client.search(criteria)
        return sorted(int(uid) for uid in found if int(uid) > last_uid)

    # -- fetching -----------------------------------------------------------------------------------

    def fetch_sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE per UID; cheap (no bodies), used to bound fetch batches by bytes.

        UIDs that no longer exist are simply absent from the result.
        """
        client = self._require_selected()
        sizes: dict[int, int] = {}
        for chunk in _chunks(list(uids), 1000):
            with _translate("UID FETCH RFC822.SIZE", self):
                data = client.fetch(chunk, ["RFC822.SIZE"])
            sizes.update({int(uid): int(item[b"RFC822.SIZE"]) for uid, item in data.items()})
        return sizes

    def fetch(
        self,
        uids: Sequence[int],
        *,
        batch_count: int = FETCH_BATCH_COUNT,
        batch_bytes: int = FETCH_BATCH_BYTES,
    ) -> Iterator[FetchedMessage]:
        """Yield the messages in UID order, fetched in batches of BODY.PEEK[] (no \\Seen side effect).

        Batches hold at most `batch_count` messages and about `batch_bytes` bytes; a single message
        larger than that (an oversized one, which curmail still stores and then parks) travels
        alone. Expunged UIDs are skipped.
        """
        client = self._require_selected()
        sizes = self.fetch_sizes(uids)
        for batch in _batches_by_size(sorted(sizes), sizes, batch_count, batch_bytes):
            with _translate("UID FETCH BODY.PEEK[]", self):
                data = client.fetch(batch, ["BODY.PEEK[]", "RFC822.SIZE", "INTERNALDATE"])
            for uid in sorted(data):
                item = data[uid]
                raw = item.get(b"BODY[]")
                if raw is None:
                    # Dovecot answers FETCH for a message expunged meanwhile with FLAGS only.
                    continue
                yield FetchedMessage(
                    uid=int(uid),
                    internal_date=_as_utc(item[b"INTERNALDATE"]),
                    size=int(item[b"RFC822.SIZE"]),
                    raw=bytes(raw),
                )

    # -- marking ------------------------------------------------------------------------------------

    def mark_processed(
        self,
        uids: Sequence[int],
        mode: MarkMode,
        *,
        keyword: str = DEFAULT_KEYWORD,
        folder: str = DEFAULT_PROCESSED_FOLDER,
    ) -> None:
        """Flag messages as processed; call only after their rows are committed.

        - "keyword": STORE +FLAGS (keyword); refused when PERMANENTFLAGS lacks \\* and the keyword.
        - "seen": STORE +FLAGS (\\Seen).
        - "move": MOVE (RFC 6851) when offered, else COPY + \\Deleted + UID EXPUNGE (RFC 4315);
          the target folder is created when missing.
        """
        if not uids:
            return
        client = self._require_selected()
        uid_list = sorted(set(uids))
        if mode == "keyword":
            if self._permanent_flags and not {"\\*", keyword} & self._permanent_flags:
                raise MailboxError(f"IMAP: сервер не хранит ключевое слово {keyword} в папке {self._selected}")
            with _translate("STORE keyword", self):
                client.add_flags(uid_list, [keyword], silent=True)
        elif mode == "seen":
            with _translate("STORE \\Seen", self):
                client.add_flags(uid_list, [SEEN], silent=True)
        elif mode == "move":
            self._ensure_folder(folder)
            with _translate(f"MOVE {folder}", self):
                if "MOVE" in self._capabilities:
                    client.move(uid_list, folder)
                else:
                    client.copy(uid_list, folder)
                    client.add_flags(uid_list, [DELETED], silent=True)
                    if "UIDPLUS" in self._capabilities:
                        client.uid_expunge(uid_list)
                    else:
                        # Without UIDPLUS a plain EXPUNGE also removes other \Deleted messages;
                        # in a shared mailbox that is what the staff asked for by deleting them.
                        client.expunge()
        else:
            raise ConfigError(f"mailbox.mark: «{mode}» — допустимо keyword, seen или move")

    def _ensure_folder(self, folder: str) -> None:
        client = self._require()
        with _translate(f"CREATE {folder}", self):
            if not client.folder_exists(folder):
                client.create_folder(folder)
                # Subscribing is a courtesy to the staff's mail client, not required.
                with suppress(IMAPClientError):
                    client.subscribe_folder(folder)

    def find_sent_folder(self) -> str | None:
        """The folder the server marks \\Sent (RFC 6154), else a conventionally named one."""
        client = self._require()
        with _translate("LIST (SPECIAL-USE)", self):
            return client.find_special_folder(SENT_SPECIAL_USE)

    def append(
        self,
        folder: str | None,
        raw: bytes,
        flags: Sequence[str] = ("\\Seen",),
        internal_date: datetime | None = None,
    ) -> str:
        """APPEND a message (RFC 3501 §6.3.11), e.g. a copy of sent mail; returns the folder used.

        With `folder=None` the \\Sent folder is discovered (RFC 6154), falling back to "Sent";
        a missing folder is created.
        """
        target = folder or self.find_sent_folder() or FALLBACK_SENT_FOLDER
        self._ensure_folder(target)
        client = self._require()
        with _translate(f"APPEND {target}", self):
            client.append(target, raw, flags=tuple(flags), msg_time=internal_date)
        return target

    # -- waiting ------------------------------------------------------------------------------------

    def idle_wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for new mail; True when the server reported some (EXISTS).

        With IDLE (RFC 2177) one IDLE command spans the wait, capped at MAX_IDLE_SECONDS so the
        caller's loop re-issues it well within the 29 minutes the RFC allows. Without IDLE it
        sleeps, then polls with NOOP (RFC 3501 §6.1.2). The caller should still search after a
        False now and then: an EXISTS may have been reported during an earlier command.
        """
        client = self._require_selected()
        timeout = max(0.0, min(timeout, MAX_IDLE_SECONDS))
        if not self.has_idle:
            time.sleep(timeout)
            return _reports_new_mail(self.noop())
        deadline = time.monotonic() + timeout
        responses: list[tuple] = []
        with _translate("IDLE", self):
            client.idle()
            try:
                while not _reports_new_mail(responses):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    batch = _idle_check(client, remaining)
                    if not batch and deadline - time.monotonic() > 0.05:
                        # Readable yet nothing parsed: ending the IDLE finds out whether the
                        # link is still there (else MailboxGone).
                        break
                    responses += batch
                    if any(_is_bye(r) for r in batch):
                        self._drop()
                        raise MailboxGone("IMAP IDLE: сервер закрыл соединение (BYE)")
            finally:
                if self._client is not None:
                    _, tail = client.idle_done()
                    responses += tail
        return _reports_new_mail(responses)


def _idle_check(client: imapclient.IMAPClient, timeout: float) -> list[tuple]:
    """The untagged responses that arrive within `timeout` seconds during IDLE, read as whole lines.

    imapclient's own idle_check reads from a non-blocking socket, so a response that arrives in two
    TCP segments is cut in two and the second half fails to parse (imapclient #519, seen with
    Dovecot in #464). Here the wait is a select() and the reading is blocking, with a timeout.
    """
    imap = client._imap  # imaplib underneath: its buffered reader may already hold the next line
    sock = client.socket()
    try:
        if not _input_waiting(imap, sock):
            readable, _, _ = select.select([sock], [], [], timeout)
            if not readable:
                return []
        sock.settimeout(IDLE_LINE_SECONDS)  # data has begun: the rest of its line is on its way
        responses = [_parse_untagged_response(imap._get_line())]
        while _input_waiting(imap, sock):
            sock.settimeout(IDLE_LINE_SECONDS)
            responses.append(_parse_untagged_response(imap._get_line()))
        return responses
    finally:
        client._set_read_timeout()


def _input_waiting(imap: Any, sock: socket.socket) -> bool:
    """Whether a response is already readable, without waiting: buffered, decrypted, or on the socket."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    sock.settimeout(0)
    try:
        if imap.file.peek(1):  # imaplib's buffered reader of the socket
            return True
    except (BlockingIOError, ssl.SSLWantReadError, TimeoutError):
        pass
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _reports_new_mail(responses: Sequence[tuple]) -> bool:
    return any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") and r[0] for r in responses)


def _is_bye(response: tuple) -> bool:
    return len(response) >= 1 and response[0] == b"BYE"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        # RFC 3501 INTERNALDATE always carries a zone; a naive value would be imapclient's local time.
        value = value.astimezone()
    return value.astimezone(UTC)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches_by_size(
    uids: list[int], sizes: dict[int, int], max_count: int, max_bytes: int
) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes[uid]
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch
