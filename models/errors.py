"""The error of the learning layer: a model or its inputs cannot be used (missing files, columns, rows)."""


class ModelError(ValueError):
    """A model cannot be fitted, saved or loaded: the message names the file or input and what is wrong."""
