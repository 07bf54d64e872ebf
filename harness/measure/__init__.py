"""Figures of a measurement: per-cell statistics, the process monitor, noise, CPU speed,
the wrk cross-check, data integrity, fidelity flags, the calibration record and the
aggregates over repeats."""
