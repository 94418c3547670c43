"""Features -> trained, evaluated, registered model; forecasts and reports."""
