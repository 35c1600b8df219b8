"""`make chaos`: faults (kill -9 of each stack service) under a mix of WorkflowRuns in flight; `make soak`
(`chaos.soak`): that mix for half an hour, memory and what is left measured."""
