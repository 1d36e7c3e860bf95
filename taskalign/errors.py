"""The one exception type for mistakes a user can make and fix (bad path, bad line, bad setting).

The CLI prints its message as a single sentence and exits with code 2; everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input; the message says what is wrong and what to do."""
