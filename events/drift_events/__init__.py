"""drift-events: starts the runs of WorkflowTriggers from Kafka records and CloudEvents over HTTP."""
