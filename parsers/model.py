"""Typed, frozen dataclasses that the parsers return: the contract between parsers/ and daemon/."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    """What a message is, as decided by the classification rules (first hit wins)."""

    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    CUR_SIGNAL = "cur_signal"
    CUR_PROPOSAL = "cur_proposal"
    CUR_APPROVAL = "cur_approval"
    CUR_REMARKS = "cur_remarks"
    CUR_REQUEST = "cur_request"
    APPEAL = "appeal"
    STAFF_REPLY = "staff_reply"
    COMMAND = "command"
    UNKNOWN = "unknown"


class Channel(StrEnum):
    """Source of an appeal (п. 8 of the regulation); a value to record and report on."""

    FZ59 = "59fz"  # Federal Law 59-ФЗ
    POS = "pos"  # «Госуслуги. Решаем вместе»
    INCIDENT = "incident"  # «Инцидент-менеджмент» / social networks and messengers
    VOICE = "voice"  # regional voice feedback systems
    SURVEY = "survey"
    INTERNET = "internet"  # information on the Internet, incl. unreliable information
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox from an address header; `email` is lower-cased, `name` decoded."""

    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A decoded attachment; `filename` is decoded (RFC 2231/2047) but NOT safe as a path."""

    filename: str
    content_type: str
    size: int
    sha256: str
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ForwardedMessage:
    """The original of a forwarded mail, recovered from a header block or a message/rfc822 part."""

    from_addr: str
    from_name: str
    subject: str
    date: datetime | None
    text: str
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    note: str = ""  # what the forwarder wrote above the forwarded block


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything curmail needs from one raw message. Built by parse_message(), which never raises."""

    message_id: str  # with angle brackets; synthetic "<sha256hex@curmail.invalid>" when missing
    message_id_synthetic: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    from_addr: str  # bare, lower-cased; "" when missing
    from_name: str
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    return_path: str | None  # None: header absent; "": the null path <>
    subject: str
    date: datetime | None  # timezone-aware, or None when missing or nonsense
    text: str  # full readable text; HTML converted when there is no plain part
    html: str | None
    new_text: str  # new text of a reply: no quotes, no signature
    signature: str
    forwarded: ForwardedMessage | None
    attachments: tuple[Attachment, ...]
    auto_submitted: str | None
    precedence: str | None
    x_autoreply: str | None
    list_headers: tuple[str, ...]  # names of List-* headers present, lower-cased
    headers: tuple[tuple[str, str], ...]  # all top-level headers, decoded, in order, names lower-cased
    sha256: str  # of the raw bytes
    size: int  # of the raw bytes
    defects: tuple[str, ...] = ()  # what was wrong with the MIME, for the log and the reasons
    content_type: str = "text/plain"  # top-level content type, lower-cased
    report: DeliveryReport | None = None  # set for multipart/report delivery-status (RFC 3464)

    def header(self, name: str) -> str | None:
        """First value of a top-level header, or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        """Every value of a top-level header, in order."""
        name = name.lower()
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The machine-readable part of a bounce (RFC 3464) as far as it could be read."""

    original_message_id: str | None
    recipients: tuple[str, ...]
    action: str | None  # failed | delayed | delivered | relayed | expanded
    status: str | None  # e.g. "5.1.1"
    diagnostic: str | None


@dataclass(frozen=True, slots=True)
class Applicant:
    """A citizen who made an appeal, as far as the mail names them."""

    name: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Classification:
    """The kind of a message and why (Mailman's rule_hits), plus what the rules extracted."""

    kind: str  # a Kind value
    reasons: tuple[str, ...]
    channel: str | None = None  # a Channel value, for appeals
    applicant: Applicant | None = None
    address: str | None = None  # street address the appeal or signal is about
    publication_urls: tuple[str, ...] = ()
    bounced_message_id: str | None = None  # for bounces: Message-ID of our original
    no_auto_reply: bool = False  # loop rules: never answer this mail automatically
    no_auto_reply_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline found in text: an aware datetime plus the phrase it came from."""

    at: datetime
    phrase: str
    assumed: bool = False  # True when a default applied because no phrase was found
