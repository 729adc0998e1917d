"""`python -m convolab` is the `convolab` command."""

import sys

from .cli import main

sys.exit(main())
