"""drift-worker: the Temporal worker that interprets Drift workflows node by node."""
