"""`convolab serve`: the runs behind an HTTP API (api.py) with its limits (limits.py)."""
