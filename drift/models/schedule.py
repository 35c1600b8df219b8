"""The WorkflowSchedule kind: a WorkflowRun of one Workflow on a cron schedule (CronJob's conventions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from .base import ApiModel
from .common import Condition, DefinitionRef, ResourceName

CRON_SHAPE = "^(@(yearly|annually|monthly|weekly|daily|hourly)|@every [^ ]+|[^ ]+( +[^ ]+){4,6})$"
"""5 to 7 fields, a descriptor or `@every <interval>`: the shapes Temporal's cron parser accepts (checked at
admission by a rule with a message; Temporal checks the fields themselves)."""
MAX_ACTIVE_SHOWN = 20

Cron = Annotated[str, StringConstraints(min_length=1, max_length=256)]
"""A cron expression: `minute hour day-of-month month day-of-week`, optionally `second` first and `year` last."""
ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


class WorkflowScheduleSpec(ApiModel):
    """When to start a run of which Workflow, with which input; the Kubernetes CronJob's fields."""

    schedule: Cron
    """Cron expression (5-7 fields, e.g. `30 2 * * *`), a descriptor (`@daily`) or `@every 10m`."""
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)
    """IANA time zone the schedule is read in (e.g. Europe/Berlin); default UTC."""
    workflow_ref: DefinitionRef
    """The Workflow each fire runs (`version` pins one; default: the latest Ready version at the fire)."""
    input: dict[str, Any] = Field(default_factory=dict)
    """Input of every run, checked against the workflow's inputSchema when the run starts."""
    suspend: bool = False
    """True: no fires until set back to false (fires missed meanwhile are not run)."""
    concurrency_policy: ConcurrencyPolicy = "Allow"
    """Allow: fires start runs whatever still runs; Forbid: a fire while a run is unfinished is skipped;
    Replace: the unfinished run is cancelled and the new one starts."""
    starting_deadline_seconds: int | None = Field(default=None, ge=10)
    """Catch-up window: a fire missed (Temporal unavailable) still runs if at most this old; default 1 year."""
    successful_runs_history_limit: int = Field(default=3, ge=0, le=1000)
    """Succeeded runs kept; older ones are deleted (default 3)."""
    failed_runs_history_limit: int = Field(default=1, ge=0, le=1000)
    """Failed, timed-out or cancelled runs kept; older ones are deleted (default 1)."""


class ActiveRun(ApiModel):
    """An unfinished run started by the schedule."""

    name: ResourceName
    """The WorkflowRun."""
    scheduled_at: datetime | None = None
    """The fire time it was started for."""


class WorkflowScheduleStatus(ApiModel):
    """Observed state of the schedule on Temporal and of the runs it started."""

    observed_generation: int | None = None
    """The metadata.generation last reconciled."""
    schedule_id: str | None = None
    """The Temporal Schedule's id."""
    last_schedule_time: datetime | None = None
    """The last fire time a run was started for."""
    next_schedule_time: datetime | None = None
    """The next fire time (none while suspended)."""
    last_run: ResourceName | None = None
    """The newest run started by the schedule."""
    active: list[ActiveRun] = Field(default_factory=list, max_length=MAX_ACTIVE_SHOWN)
    """Unfinished runs, newest first (at most 20 shown)."""
    conditions: list[Condition] = Field(default_factory=list, max_length=8)
    """Ready, Reconciling and Stalled."""
