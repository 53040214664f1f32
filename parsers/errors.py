"""Errors used inside parsers/ only; the public functions catch them and never raise."""

from daemon.errors import CurmailError


class ParseError(CurmailError):
    """A part of a message could not be read; recorded as a defect, never raised out of parsers/."""
