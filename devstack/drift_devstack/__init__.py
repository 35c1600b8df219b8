"""Drift's local stack: real Kubernetes API server, Temporal, Redis and HBase on loopback, no Docker.

Standard library only, so it can run (and stop a stack) before or without the project's virtualenv.
"""
