"""Per-recipient Message-IDs carrying an unguessable HMAC token, so a reply proves it answers our letter.

Every outgoing letter gets `<curmail.{nonce}.{token}@{domain}>` where
token = HMAC-SHA256(key, "recipient|nonce") truncated to 96 bits, base32. A command or an approval
counts only when its References/In-Reply-To carry such an id minted *for that sender* (GitLab's and
Discourse's reply-by-email keys work the same way); knowing a case number or forging From is not enough.

The key is 32 random bytes in `<state directory>/token.key`, mode 0600, created on first use.
Losing it only means that replies to letters sent before the loss no longer authorise anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from daemon.errors import StorageError

KEY_FILE = "token.key"
KEY_BYTES = 32
TOKEN_BYTES = 12  # 96 bits, above the 80 asked for; short enough that the header rarely folds
NONCE_BYTES = 8

_OURS = re.compile(r"^<?curmail\.([a-z2-7]{1,64})\.([a-z2-7]{1,64})@([^>\s]+)>?$")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def new_nonce() -> str:
    """A fresh random nonce for one outgoing letter (64 bits, base32)."""
    return _b32(secrets.token_bytes(NONCE_BYTES))


def load_or_create_key(state_dir: Path) -> bytes:
    """Read the key, creating it (0600, atomically, race-free between processes) when absent."""
    path = Path(state_dir) / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = _create_key(path)
    except OSError as exc:
        raise StorageError(f"cannot read the token key {path}: {exc.strerror}") from exc
    if len(key) != KEY_BYTES:
        raise StorageError(f"the token key {path} has {len(key)} bytes, expected {KEY_BYTES}; "
                           "restore it from backup or delete it to start a new one")
    return key


def _create_key(path: Path) -> bytes:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".token.", dir=path.parent)  # mkstemp creates 0600
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if another process created the key first; then theirs wins and we read it.
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
        return path.read_bytes()
    except OSError as exc:
        raise StorageError(f"cannot create the token key {path}: {exc.strerror}") from exc


class MessageIdTokens:
    """Mints and checks our per-recipient Message-IDs with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the token key is too short")
        self._key = key

    def _token(self, recipient: str, nonce: str) -> str:
        message = f"{recipient.strip().lower()}|{nonce}".encode()
        return _b32(hmac.new(self._key, message, hashlib.sha256).digest()[:TOKEN_BYTES])

    def make_message_id(self, recipient: str, nonce: str, domain: str) -> str:
        """`<curmail.{nonce}.{token}@{domain}>`: a Message-ID that only `recipient` can answer with."""
        if not re.fullmatch(r"[a-z2-7]{1,64}", nonce):
            raise ValueError("nonce must be lower-case base32 (see new_nonce)")
        return f"<curmail.{nonce}.{self._token(recipient, nonce)}@{domain.lower()}>"

    def verify_reference(self, msgid: str, sender: str) -> str | None:
        """The nonce when `msgid` is one we minted for `sender`, else None (constant-time compare)."""
        match = _OURS.match(msgid.strip().lower())
        if not match:
            return None
        nonce, token = match.group(1), match.group(2)
        if hmac.compare_digest(token, self._token(sender, nonce)):
            return nonce
        return None

    def find_reference(self, msgids: Iterable[str], sender: str) -> str | None:
        """The first Message-ID among References/In-Reply-To that we minted for `sender`, else None."""
        for msgid in msgids:
            if self.verify_reference(msgid, sender) is not None:
                return msgid.strip()
        return None


@lru_cache(maxsize=8)
def tokens_for(state_dir: Path) -> MessageIdTokens:
    """The token checker of a state directory (the key is read once per process)."""
    return MessageIdTokens(load_or_create_key(Path(state_dir)))
