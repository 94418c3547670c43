"""The product: forecasts, whip counts, reasons, reports and the command line, built on models/.

``from forecasts import forecast`` is the Python API (forecasts/api.py), imported on first use only.
"""


def __getattr__(name: str):
    if name == "forecast":
        from forecasts.api import forecast

        return forecast
    raise AttributeError(f"module 'forecasts' has no attribute {name!r}")
