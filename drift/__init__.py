"""Drift's core library: models, storage, cache and expressions shared by the operator and the worker."""
