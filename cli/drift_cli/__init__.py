"""`kubectl drift`: the everyday command line of Drift (runs, resume, validate, graph, node test, simulate)."""
