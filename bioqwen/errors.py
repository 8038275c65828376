"""The one exception type for mistakes a user can make (bad path, malformed record, bad key)."""


class BioqwenError(Exception):
    """A user-facing error: its message names the file, line or key at fault."""
