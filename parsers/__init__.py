"""Pure, fast readers of e-mail: parsing, reply and forward extraction, classification, keys, deadlines."""

from parsers.classify import classify
from parsers.deadline import extract_deadline
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
    "classify",
    "extract_deadline",
    "parse_message",
]

# The public functions are re-exported here as their modules land:
# parse_message (parsers.parse), extract_reply (parsers.reply), classify (parsers.classify),
# extract_deadline (parsers.deadline).
