"""Per-recipient Message-ID tokens: minted per address, verified only for that address, key kept 0600."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from daemon.errors import StorageError
from daemon.tokens import KEY_FILE, MessageIdTokens, load_or_create_key, new_nonce

DOMAIN = "kozmo.example"


def test_the_key_is_created_once_with_mode_0600(tmp_path):
    key = load_or_create_key(tmp_path / "state")
    path = tmp_path / "state" / KEY_FILE
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path / "state") == key


def test_concurrent_first_use_agrees_on_one_key(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_key(tmp_path), range(16)))
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


def test_a_truncated_key_file_is_an_error_not_a_weak_key(tmp_path):
    (tmp_path / KEY_FILE).write_bytes(b"short")
    with pytest.raises(StorageError, match="32"):
        load_or_create_key(tmp_path)


def test_a_message_id_verifies_for_its_recipient_only(tmp_path):
    tokens = MessageIdTokens(load_or_create_key(tmp_path))
    nonce = new_nonce()
    msgid = tokens.make_message_id("Petrov@Kozmo.example", nonce, DOMAIN)
    assert msgid.startswith(f"<curmail.{nonce}.") and msgid.endswith(f"@{DOMAIN}>")
    token = msgid.split(".")[2].split("@")[0]
    assert len(token) * 5 >= 80  # base32: 5 bits a character
    assert tokens.verify_reference(msgid, "petrov@kozmo.example") == nonce
    assert tokens.verify_reference(msgid, "ivanova@kozmo.example") is None
    assert tokens.verify_reference(msgid.upper(), "PETROV@kozmo.example") == nonce


def test_a_forged_or_foreign_id_does_not_verify(tmp_path):
    tokens = MessageIdTokens(load_or_create_key(tmp_path))
    other = MessageIdTokens(load_or_create_key(tmp_path / "other"))
    nonce = new_nonce()
    forged = other.make_message_id("petrov@kozmo.example", nonce, DOMAIN)
    assert tokens.verify_reference(forged, "petrov@kozmo.example") is None
    real = tokens.make_message_id("petrov@kozmo.example", nonce, DOMAIN)
    tampered = real.replace(real.split(".")[2][:4], "aaaa", 1)
    assert tokens.verify_reference(tampered, "petrov@kozmo.example") is None
    assert tokens.verify_reference("<CAF123@mail.gmail.com>", "petrov@kozmo.example") is None
    assert tokens.verify_reference("<curmail-case-default-42@kozmo.example>", "petrov@kozmo.example") is None


def test_find_reference_picks_ours_out_of_a_references_chain(tmp_path):
    tokens = MessageIdTokens(load_or_create_key(tmp_path))
    ours = tokens.make_message_id("cur@example.org", new_nonce(), DOMAIN)
    chain = ["<curmail-case-default-1@kozmo.example>", "<x@cur.example.org>", ours]
    assert tokens.find_reference(chain, "cur@example.org") == ours
    assert tokens.find_reference(chain, "someone@else.org") is None


def test_nonces_are_unique_and_validated(tmp_path):
    assert len({new_nonce() for _ in range(1000)}) == 1000
    tokens = MessageIdTokens(load_or_create_key(tmp_path))
    with pytest.raises(ValueError):
        tokens.make_message_id("a@b.c", "bad nonce!", DOMAIN)
