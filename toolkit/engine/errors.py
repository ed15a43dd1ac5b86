"""User-facing errors.

A user mistake raises one :class:`LtError` (or subclass). The CLI prints ``Error: <message>`` on
stderr and exits with code 2; ``LT_DEBUG=1`` re-raises to show the traceback.
"""

from __future__ import annotations


class LtError(Exception):
    """A mistake the user can fix (bad flag, missing file, unknown name, corrupt checkpoint)."""

    exit_code = 2


class DataError(LtError):
    """Missing, malformed or unreadable data."""


class CheckpointError(LtError):
    """A checkpoint that is missing, foreign, corrupt or incompatible."""


class DeviceError(LtError):
    """A device that was asked for but is not available."""


def check(condition: bool, message: str, cls: type[LtError] = LtError) -> None:
    """Raise ``cls(message)`` unless ``condition`` holds (argument validation in one line)."""
    if not condition:
        raise cls(message)
