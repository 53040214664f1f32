"""The one exception hierarchy of curmail; every error we raise on purpose derives from CurmailError."""

from __future__ import annotations


class CurmailError(Exception):
    """Base of every error curmail raises on purpose."""


class ConfigError(CurmailError):
    """The configuration file is missing, unreadable or invalid; the message names file, key and problem."""


class StorageError(CurmailError):
    """The database could not store or read what was asked (locked, full disk, lost connection)."""


class MailboxError(CurmailError):
    """An IMAP operation failed; the caller reconnects with backoff."""


class MailboxAuthError(MailboxError):
    """The IMAP server refused the credentials; retried with backoff, never in a tight loop."""


class MailboxGone(MailboxError):
    """The IMAP connection was dropped or timed out."""


class SendError(CurmailError):
    """An outgoing message could not be handed to the SMTP server."""


class SendTemporary(SendError):
    """A 4xx reply or a connection failure: retry with exponential backoff."""


class SendPermanent(SendError):
    """A 5xx reply: the row fails and the contact official is told."""


class SendUncertain(SendError):
    """A timeout after DATA: the server may have queued it; a human decides (RFC 5321 §4.5.3.2)."""


class RenderError(CurmailError):
    """A letter template is missing, malformed, or uses a variable the caller did not give."""


class WorkflowError(CurmailError):
    """A case transition or command that the rules refuse; the text is shown to staff in Russian."""


class IllegalTransition(WorkflowError):
    """The state machine of the case kind has no such transition from the current state."""


class NotAuthorised(WorkflowError):
    """The sender lacks the role, or the mail does not reply to a message we sent them."""


class ParkMessage(CurmailError):
    """Control flow: stop processing this message and park it with the given reason."""
