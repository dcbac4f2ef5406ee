"""Calibration: the reported figures (targets.toml), the fit (fit.py), its results
(posterior.csv, calibrated.toml) and the report (report.py)."""
