"""The chart tests' tools: helm and kubectl of the running stack."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def tools(stack_env: dict[str, str]) -> dict[str, str]:
    """The stack's environment, with helm and kubectl checked to be on its PATH."""
    for tool in ("helm", "kubectl"):
        if shutil.which(tool, path=stack_env.get("PATH")) is None:
            pytest.fail(f"{tool} is not on the stack's PATH: load the env file of a running stack (`. .dev/ship/env`)")
    return stack_env
