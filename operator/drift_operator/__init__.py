"""drift-operator: the kopf operator that stores definition versions and drives WorkflowRuns on Temporal."""
