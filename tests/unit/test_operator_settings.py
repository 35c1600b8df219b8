"""The operator's optional lifecycle settings read from the environment."""

from __future__ import annotations

import pytest

from drift_operator.operator_settings import load


def test_retention_settings_are_unset_by_default_and_parsed_when_given():
    assert (load({}).run_ttl_seconds, load({}).context_retention_days) == (None, None)
    settings = load({"DRIFT_RUN_TTL_SECONDS": "3600", "DRIFT_CONTEXT_RETENTION_DAYS": "0.5"})
    assert (settings.run_ttl_seconds, settings.context_retention_days) == (3600, 0.5)


@pytest.mark.parametrize("raw", ["soon", "-1", "1.5"])
def test_a_bad_run_ttl_is_refused_naming_the_variable(raw):
    with pytest.raises(ValueError, match="DRIFT_RUN_TTL_SECONDS"):
        load({"DRIFT_RUN_TTL_SECONDS": raw})


def test_status_writes_at_once_defaults_and_must_be_a_whole_number_above_zero():
    assert load({}).status_writes_at_once == 8
    assert load({"DRIFT_STATUS_WRITES_AT_ONCE": "32"}).status_writes_at_once == 32
    for raw in ("0", "-2", "many", "1.5"):
        with pytest.raises(ValueError, match="DRIFT_STATUS_WRITES_AT_ONCE"):
            load({"DRIFT_STATUS_WRITES_AT_ONCE": raw})
