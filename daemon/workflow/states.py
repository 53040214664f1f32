"""The states of every case kind, and which of them wait on staff (and so carry a running deadline)."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Case states. Each kind uses a subset; its transition table says which moves are legal."""

    NEW = "new"  # stored, not yet routed (only between intake and the first workflow step)
    ASSIGNED = "assigned"  # waiting for the assignee's draft or answer: the deadline runs
    AWAITING_APPROVAL = "awaiting_approval"  # refutation: draft sent to the ЦУР, waiting for its word
    REWORK = "rework"  # refutation: the ЦУР sent remarks; waiting for a new draft: the deadline runs
    SENT_TO_PRESS = "sent_to_press"  # refutation: approved text sent to the press service and web editor
    CLOSED = "closed"  # done; `Case.outcome` says how (published, answered, …)


# States in which the assignee owes something, so reminders and escalations apply.
WAITING_ON_STAFF = frozenset({State.NEW, State.ASSIGNED, State.REWORK})
CLOSED_STATES = frozenset({State.CLOSED})
