"""`python -m convolab` is the `convolab` command."""

from .cli import run

run()
