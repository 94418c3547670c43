"""The error of the learning layer: a model or its inputs cannot be used (missing files, columns, rows)."""

from pipeline.errors import DataError


class ModelError(DataError):
    """A model cannot be fitted, saved or loaded: the message names the file or input and what is wrong. A kind
    of DataError, so every stage reports it as one line (``pipeline.errors.run_stage``)."""
