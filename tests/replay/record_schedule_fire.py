"""Write the missing `DriftScheduleFire` goldens from a test stack's Temporal, after its schedules ran.

`tests/e2e/test_schedules.py` leaves fires of both outcomes behind: one that waited for its run to finish
(`completed`) and one cancelled by concurrencyPolicy Replace (`replaced`). With the stack still up:
`set -a; . .dev/test/env; set +a; .venv/bin/python -m tests.replay.record_schedule_fire`. A golden is never
rewritten: it is what fires in flight replay.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from drift.settings import temporal_settings
from drift.temporal_client import connect
from drift_operator.schedule_fire import FIRE_WORKFLOW

HISTORIES = Path(__file__).parent / "histories" / "schedule-fire"
OUTCOMES = {"completed": "Completed", "replaced": "Canceled"}
"""Golden name -> the execution status it is taken from (the newest fire of that status)."""


async def record() -> None:
    client = await connect(temporal_settings())
    for name, status in OUTCOMES.items():
        path = HISTORIES / f"{name}.json"
        if path.exists():
            continue
        query = f"WorkflowType = '{FIRE_WORKFLOW}' AND ExecutionStatus = '{status}'"
        fire = await anext(aiter(client.list_workflows(query)), None)
        if fire is None:
            print(f"no {status} {FIRE_WORKFLOW} on this stack: run tests/e2e/test_schedules.py first")
            continue
        history = await client.get_workflow_handle(fire.id, run_id=fire.run_id).fetch_history()
        path.write_text(history.to_json() + "\n")
        print(f"recorded {path} from {fire.id}")


if __name__ == "__main__":
    asyncio.run(record())
