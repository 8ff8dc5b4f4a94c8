"""The errors of what a user gave: one family, so one handler can report any of them in one line.

Every error a user can fix (a file, an option, a checkpoint) is a :class:`UsageError`; the
``rnnlab`` command prints it as ``rnnlab: error: MESSAGE`` and exits with status 2.  Programming
errors (a wrong type passed to a layer) stay ``TypeError``/``ValueError`` with a message naming
the argument.  Imports nothing.
"""


class UsageError(ValueError):
    """Something the user gave cannot be used; the message names it and the problem."""


class DataError(UsageError):
    """Input data that cannot be used; the message names the file (and line) and the problem."""


class ConfigError(UsageError):
    """An option value that cannot be used."""


class CheckpointError(UsageError):
    """A checkpoint or run directory that cannot be used (missing, unreadable, or for another model)."""


class DivergenceError(UsageError):
    """Training diverged (the loss stayed non-finite); the message says what was kept and what to change."""
