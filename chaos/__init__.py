"""`make chaos`: faults (kill -9 of each stack service) under a mix of WorkflowRuns in flight."""
