"""The errors a user can act on, and the one way to turn any exception into a one-line message.

Why one base: the CLI (exit 2, one line on stderr), the explain CLI and the app (a one-line message in the
page) all catch the same family instead of each keeping its own tuple of error types. `WeightsError` is the
part of it that concerns the weights a server was set up with: the app shows its visitors a plain sentence
for those and keeps the details (paths, variables) for the operator's log.
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (a bad image, file or setting); its message is one line and says what."""


class WeightsError(UserError):
    """The weights cannot be read, recognised or fetched (checkpoint, architecture, Hub)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, never a traceback; the type's name when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
