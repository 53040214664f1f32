"""A private Dovecot IMAP server on a loopback port, started from its own config under a temp dir."""

from __future__ import annotations

import base64
import contextlib
import grp
import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

DOVECOT_BINARY = "/usr/sbin/dovecot"
DOVEADM_BINARY = "/usr/bin/doveadm"
OPENSSL_BINARY = "/usr/bin/openssl"

# The userdb maps every account onto this uid/gid, so the maildir must belong to it.
MAIL_OWNER = "nobody"
MAIL_GROUP = "nogroup"

_CONFIG = """\
# Written by tests/support/dovecot.py for one private test instance.
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
# Dovecot would sleep before answering a failed login; tests want the answer now.
auth_failure_delay = 0
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{dir}/mail/%u
# Wake IDLE clients about new mail within a second instead of the default minute-scale checks.
imap_idle_notify_interval = 1 secs
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
}}
# After one failed login, anvil's auth penalty delays every later login from the same IP by
# seconds. Closing its socket to the auth process (mode 0) turns the penalty off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
"""


class DovecotError(RuntimeError):
    """The private Dovecot did not start, stop or answer as the test needed."""


@dataclass(frozen=True)
class StoredMessage:
    """One message as the server reports it, for assertions."""

    uid: int
    flags: tuple[str, ...]
    internal_date: datetime
    raw: bytes


def free_loopback_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1 (racy, but fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    """One private Dovecot instance: its config, users and maildirs live under `root`."""

    host = "127.0.0.1"

    def __init__(self, root: Path | None = None, port: int | None = None, *, tls: bool = False) -> None:
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="curmail-dovecot-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_loopback_port()
        # With tls=True: implicit TLS on imaps_port and STARTTLS on port, with a self-signed
        # certificate for 127.0.0.1 (trust it through ssl_context()). Otherwise imaps is off.
        self.tls = tls
        self.imaps_port = free_loopback_port() if tls else 0
        self.passwords: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._uid = pwd.getpwnam(MAIL_OWNER).pw_uid
        self._gid = grp.getgrnam(MAIL_GROUP).gr_gid
        self._unique = itertools.count(1)
        self._prepare_tree()

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _prepare_tree(self) -> None:
        # Dovecot's auth process runs as user dovecot: every directory on the way to the users
        # file must be traversable by it, and mkdtemp() makes 0700 directories.
        for path in [*reversed(self.root.parents), self.root]:
            if str(path).startswith(tempfile.gettempdir()) and path != Path(tempfile.gettempdir()):
                path.chmod(0o755)
        self.root.chmod(0o755)
        for sub in ("run", "state"):
            (self.root / sub).mkdir(mode=0o755, exist_ok=True)
        mail = self.root / "mail"
        mail.mkdir(mode=0o755, exist_ok=True)
        os.chown(mail, self._uid, self._gid)
        # One passwd-file per user: Dovecot re-reads a changed passwd-file at most once a second,
        # so a user added to a shared file right after another would not be found yet.
        (self.root / "users").mkdir(mode=0o755, exist_ok=True)
        ssl_settings = "ssl = no"
        if self.tls:
            self._make_certificate()
            ssl_settings = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.root / 'key.pem'}"
        self.config_path.write_text(
            _CONFIG.format(
                dir=self.root, port=self.port, imaps_port=self.imaps_port, ssl=ssl_settings,
                uid=self._uid, gid=self._gid,
            )
        )

    @property
    def cert_path(self) -> Path:
        return self.root / "cert.pem"

    def _make_certificate(self) -> None:
        if self.cert_path.exists():
            return
        subprocess.run(
            [OPENSSL_BINARY, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7",
             "-keyout", str(self.root / "key.pem"), "-out", str(self.cert_path),
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this instance's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.cert_path))

    def start(self, timeout: float = 15.0) -> None:
        """Start `dovecot -F -c CONF` and wait until the IMAP port greets."""
        if self.running:
            return
        self._process = subprocess.Popen(
            [DOVECOT_BINARY, "-F", "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                self._process = None
                raise DovecotError(f"dovecot exited at start: {err.strip()}\n{self.log_tail()}")
            if self._greets():
                return
            time.sleep(0.05)
        self.stop()
        raise DovecotError(f"dovecot did not greet on port {self.port} within {timeout}s\n{self.log_tail()}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the master (its pid is in base_dir/master.pid) and wait until it has exited."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        pid_file = self.root / "run" / "master.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.exists() else process.pid
        children = _children_of(pid)
        os.kill(pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        if process.stderr:
            process.stderr.close()
        # Despite shutdown_clients = yes, a logged-in imap process outlives its master here and
        # keeps serving its client; a real restart drops every connection, so end them too.
        for child, started in children.items():
            with contextlib.suppress(ProcessLookupError):
                if _start_time(child) == started:
                    os.kill(child, signal.SIGKILL)

    def restart(self) -> None:
        """Stop and start again on the same port with the same data; live connections are dropped."""
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        log = self.root / "dovecot.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # -- accounts and mail -----------------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add a passwd-file user; no reload needed, Dovecot reads the new file on first login."""
        if ":" in name or ":" in password or "\n" in name + password:
            raise ValueError("passwd-file entries cannot contain ':' or newlines")
        if "/" in name or name.startswith("."):
            raise ValueError("user names become file names here: no '/' and no leading '.'")
        self.passwords[name] = password
        user_file = self.root / "users" / name
        user_file.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
        user_file.chmod(0o644)

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The Maildir++ directory of a folder: INBOX is the user's root, others are '.Name'."""
        base = self.root / "mail" / user
        if folder.upper() == "INBOX":
            return base
        return base / ("." + encode_mailbox_name(folder).replace("/", "."))

    def _login(self, user: str) -> imaplib.IMAP4:
        # The stdlib client, on purpose: the fixtures must not depend on the adapter under test.
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(user, self.passwords[user])
        return client

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        internal_date: datetime | None = None,
        flags: Sequence[str] = (),
    ) -> None:
        """APPEND one message (RFC 3501 §6.3.11). Dovecot replaces a future date with now."""
        self.append_many(user, [raw], folder=folder, internal_date=internal_date, flags=flags)

    def append_many(
        self,
        user: str,
        raws: Iterable[bytes],
        folder: str = "INBOX",
        internal_date: datetime | None = None,
        flags: Sequence[str] = (),
    ) -> None:
        client = self._login(user)
        try:
            if folder.upper() != "INBOX":
                client.create(_quote(folder))
            flag_list = "(" + " ".join(flags) + ")" if flags else None
            date = imaplib.Time2Internaldate(internal_date) if internal_date else None
            for raw in raws:
                status, data = client.append(_quote(folder), flag_list, date, raw)
                if status != "OK":
                    raise DovecotError(f"APPEND failed: {data!r}")
        finally:
            _logout(client)

    def deliver_files(self, user: str, raws: Iterable[bytes], mtime: datetime | None = None) -> int:
        """Write messages straight into INBOX's maildir new/ (fast path for big backlogs).

        Dovecot takes a maildir file's mtime as its INTERNALDATE and picks new/ files up on the
        next mailbox sync. Returns how many files were written.
        """
        box = self.maildir(user)
        self._ensure_maildir(box)
        stamp = int(time.time())
        host = socket.gethostname().replace("/", "_").replace(":", "_")
        count = 0
        for raw in raws:
            name = f"{stamp}.M{next(self._unique)}P{os.getpid()}.{host}"
            tmp_path = box / "tmp" / name
            tmp_path.write_bytes(raw)
            os.chown(tmp_path, self._uid, self._gid)
            if mtime is not None:
                os.utime(tmp_path, (mtime.timestamp(), mtime.timestamp()))
            tmp_path.rename(box / "new" / name)
            count += 1
        return count

    def _ensure_maildir(self, box: Path) -> None:
        user_dir = self.root / "mail" / box.relative_to(self.root / "mail").parts[0]
        for path in (user_dir, box, box / "tmp", box / "new", box / "cur"):
            if not path.exists():
                path.mkdir(mode=0o700)
                os.chown(path, self._uid, self._gid)

    def list_messages(self, user: str, folder: str = "INBOX") -> list[StoredMessage]:
        """Every message in the folder with UID, flags, INTERNALDATE and raw bytes, UID order."""
        client = self._login(user)
        try:
            status, _ = client.select(_quote(folder), readonly=True)
            if status != "OK":
                raise DovecotError(f"cannot select {folder}")
            status, data = client.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
            if status != "OK":
                raise DovecotError(f"FETCH failed: {data!r}")
        finally:
            _logout(client)
        messages = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, raw = item
            text = meta.decode()
            uid = int(re.search(r"UID (\d+)", text).group(1))
            flags = tuple(re.search(r"FLAGS \(([^)]*)\)", text).group(1).split())
            date = datetime(*imaplib.Internaldate2tuple(meta)[:6]).astimezone()
            messages.append(StoredMessage(uid=uid, flags=flags, internal_date=date, raw=raw))
        return sorted(messages, key=lambda message: message.uid)

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID -> set of flags and keywords."""
        return {message.uid: set(message.flags) for message in self.list_messages(user, folder)}

    def folders(self, user: str) -> list[str]:
        client = self._login(user)
        try:
            _, data = client.list()
        finally:
            _logout(client)
        names = []
        for line in data:
            match = re.match(rb'\([^)]*\) (?:"[^"]*"|NIL) (.*)$', line)
            if match:
                names.append(decode_mailbox_name(match.group(1).decode().strip('"')))
        return names

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        client = self._login(user)
        try:
            _, data = client.status(_quote(folder), "(UIDVALIDITY)")
        finally:
            _logout(client)
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def change_uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Force a new UIDVALIDITY while keeping the messages, as a lost index would. Returns it.

        Stops the server, deletes the folder's dovecot-uidlist and index files, starts again; Dovecot
        then renumbers the messages from UID 1 under a fresh UIDVALIDITY. Dovecot derives the new
        value from the clock, so within the same second we bump it explicitly with doveadm.
        """
        before = self.uidvalidity(user, folder)
        self.stop()
        box = self.maildir(user, folder)
        for path in box.iterdir():
            if path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index"):
                path.unlink()
        self.start()
        after = self.uidvalidity(user, folder)
        if after == before:
            subprocess.run(
                [DOVEADM_BINARY, "-c", str(self.config_path), "mailbox", "update",
                 "--uid-validity", str(before + 1), "-u", user, folder],
                check=True, capture_output=True,
            )
            after = self.uidvalidity(user, folder)
        if after == before:
            raise DovecotError(f"UIDVALIDITY of {user}/{folder} did not change from {before}")
        return after


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _children_of(parent: int) -> dict[int, str]:
    """Direct children of a process with their start times (to avoid killing a reused pid)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children[int(entry.name)] = fields[19]
    return children


def _quote(folder: str) -> str:
    encoded = encode_mailbox_name(folder)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_mailbox_name(name: str) -> str:
    """IMAP's modified UTF-7 for mailbox names (RFC 3501 §5.1.3); imaplib leaves it to us."""
    out, pending = [], []

    def flush() -> None:
        if pending:
            chunk = base64.b64encode("".join(pending).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + chunk.replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_mailbox_name(name: str) -> str:
    def decode(match: re.Match[str]) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        chunk = chunk.replace(",", "/")
        return base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", decode, name)


def _logout(client: imaplib.IMAP4) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        client.logout()
