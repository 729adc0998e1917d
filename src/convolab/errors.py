"""The one exception type for user mistakes.

A `ConvolabError` carries a single line meant for a person: it names the input, says what
is wrong and what to do. The CLI prints it to stderr without a traceback and exits 2.
"""

from __future__ import annotations


class ConvolabError(Exception):
    """A user-facing error: one line naming the input, the problem and the fix."""

    def __init__(self, message: str):
        # Keep it on one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))
