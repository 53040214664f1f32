"""The mailbox lease: one holder at a time, taken over only after expiry, atomic on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from daemon import lease
from tests.support.env import CurmailEnv

KEY = "user@imap.example:993/INBOX"


def test_one_holder_until_expiry(env: CurmailEnv) -> None:
    app = env.app()
    assert lease.acquire(app, KEY, "a", ttl=60)
    assert not lease.acquire(app, KEY, "b", ttl=60)
    assert lease.renew(app, KEY, "a", ttl=60)
    assert not lease.renew(app, KEY, "b", ttl=60)
    assert lease.holder(app, KEY).owner == "a"

    assert lease.acquire(app, KEY, "a", ttl=-1)  # "a" stops renewing: its lease is already over
    assert lease.acquire(app, KEY, "b", ttl=60)
    assert not lease.renew(app, KEY, "a", ttl=60), "the old holder must learn that it lost the mailbox"
    assert not lease.release(app, KEY, "a")
    assert lease.holder(app, KEY).owner == "b"

    assert lease.release(app, KEY, "b")
    assert lease.holder(app, KEY).owner is None
    assert lease.acquire(app, KEY, "a", ttl=60)


def test_concurrent_acquire_has_one_winner(env: CurmailEnv) -> None:
    app = env.app()
    start = threading.Barrier(8)
    winners: list[str] = []

    def contend(name: str) -> None:
        start.wait()
        if lease.acquire(app, "other@imap.example:993/INBOX", name, ttl=60):
            winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"instance-{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(winners) == 1
    assert lease.holder(app, "other@imap.example:993/INBOX").owner == winners[0]


def test_a_dead_local_holder_is_taken_over_at_once(env: CurmailEnv) -> None:
    """After a crash and restart on the same host, the new process need not wait out the old lease."""
    app = env.app()
    assert lease.acquire(app, KEY, "host@1:100", ttl=600)
    assert not lease.acquire(app, KEY, "host@1:200", ttl=600, holder_is_dead=lambda owner: False)
    assert lease.acquire(app, KEY, "host@1:200", ttl=600, holder_is_dead=lambda owner: owner == "host@1:100")
    assert lease.holder(app, KEY).owner == "host@1:200"
    assert not lease.renew(app, KEY, "host@1:100", ttl=600)
