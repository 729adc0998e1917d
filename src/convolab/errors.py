"""The one exception type for user mistakes.

A `ConvolabError` carries a single line meant for a person: it names the input, says what
is wrong and what to do. The CLI prints it to stderr without a traceback and exits 2.
"""

from __future__ import annotations

import difflib


class ConvolabError(Exception):
    """A user-facing error: one line naming the input, the problem and the fix."""

    def __init__(self, message: str):
        # Keep it on one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))


def did_you_mean(name: str, choices) -> str:
    """' (did you mean 'X'?)' for the closest choice (case-insensitive), or ''."""
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
