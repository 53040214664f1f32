"""Pure, fast readers of e-mail: parsing, reply and forward extraction, classification, keys, deadlines."""

from parsers.classify import classify
from parsers.deadline import extract_deadline
from parsers.forward import find_forwarded
from parsers.model import (
    Address,
    Applicant,
    Attachment,
    Channel,
    Classification,
    Deadline,
    DeliveryReport,
    ForwardedMessage,
    Kind,
    ParsedMessage,
)
from parsers.parse import parse_message
from parsers.reply import ReplyParts, extract_reply, split_reply

__all__ = [
    "Address",
    "Applicant",
    "Attachment",
    "Channel",
    "Classification",
    "Deadline",
    "DeliveryReport",
    "ForwardedMessage",
    "Kind",
    "ParsedMessage",
    "ReplyParts",
    "classify",
    "extract_deadline",
    "extract_reply",
    "find_forwarded",
    "parse_message",
    "split_reply",
]

