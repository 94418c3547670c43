"""The error of the data layer: bad or missing input, named with its file (or id) and what is wrong."""


class DataError(ValueError):
    """Bad or missing input: the message names the file (or id) and what is wrong with it."""
