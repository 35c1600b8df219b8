"""Drift's benchmarks: each measures against the running stack and reports ratios to a same-run baseline."""
