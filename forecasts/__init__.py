"""The product: forecasts, whip counts, reasons, reports and the command line, built on models/."""
