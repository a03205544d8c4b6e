"""The one error of gpugrad's data readers (a module of its own, so that datasets, tables and schema
all raise it without importing each other in a circle)."""


class DataError(ValueError):
    """A data file that cannot be used: missing, unreadable, malformed, or with unusable labels.
    Its message is one line naming the file (and, for a table, the row, the column, the value and
    the option that fixes it)."""
