"""The run commands: runs, describe run, start, cancel, resume."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.text import Text

from drift.models.run import FINAL_PHASES, MAX_STATUS_NODES
from drift.validation import DefinitionInvalid, validate_input

from . import rendering as out
from .cli_errors import EXIT_FAILED, CliError
from .kube_access import CHUNK_SIZE, RUNS, WORKFLOWS, Cluster
from .manifest_files import read_document

POLL_SECONDS = 1.0
REFUSAL = "refused: "


# runs ---------------------------------------------------------------------------------------------------


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """One run as `runs` shows it (also its JSON form)."""
    status = run.get("status") or {}
    waiting = status.get("waitingFor") or {}
    finished = status.get("finishedAt")
    return {
        "name": run["metadata"]["name"],
        "phase": status.get("phase") or "Pending",
        "workflow": run["spec"]["workflowRef"]["name"],
        "version": status.get("workflowVersion"),
        "node": status.get("currentNode") or waiting.get("node"),
        "nodesCompleted": status.get("nodesCompleted", 0),
        "age": out.span(out.between(run["metadata"].get("creationTimestamp"))),
        "duration": status.get("duration")
        or (out.span(out.between(status.get("startedAt"), finished)) if status.get("startedAt") else None),
        "message": status.get("message"),
    }


def _runs_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return Text("No runs.")
    return out.make_table(
        ["NAME", "PHASE", "WORKFLOW", "NODE", "PROGRESS", "AGE", "DURATION"],
        [
            [
                r["name"],
                out.phase_text(r["phase"]),
                f"{r['workflow']}@{r['version']}" if r["version"] else r["workflow"],
                r["node"],
                f"{r['nodesCompleted']} nodes",
                r["age"],
                r["duration"],
            ]
            for r in rows
        ],
    )


def list_runs(cluster: Cluster, chunk_size: int = CHUNK_SIZE) -> list[dict[str, Any]]:
    runs = sorted(cluster.list(RUNS, chunk_size), key=lambda r: r["metadata"].get("creationTimestamp") or "")
    return [run_row(run) for run in runs]


def runs(cluster: Cluster, watch: bool, fmt: out.Format, chunk_size: int = CHUNK_SIZE, interval: float = 2.0) -> None:
    if not watch:
        out.emit(list_runs(cluster, chunk_size), fmt, _runs_table)
        return
    try:
        if fmt == out.Format.table and sys.stdout.isatty():
            with Live(_runs_table(list_runs(cluster, chunk_size)), console=out.console(), auto_refresh=False) as live:
                while True:
                    time.sleep(interval)
                    live.update(_runs_table(list_runs(cluster, chunk_size)), refresh=True)
        last: list[dict[str, Any]] | None = None
        while True:  # off a terminal: print the list again whenever it changed (ages left out of the comparison)
            rows = list_runs(cluster, chunk_size)
            key = [{k: v for k, v in r.items() if k not in ("age", "duration")} for r in rows]
            if key != last:
                out.emit(rows, fmt, _runs_table)
                sys.stdout.flush()
                last = key
            time.sleep(interval)
    except KeyboardInterrupt:
        return


# describe run -------------------------------------------------------------------------------------------


def _resume_entries(run: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    status = run.get("status") or {}
    delivered = int(status.get("resumesDelivered") or 0)
    refusals = _refusals(events)
    entries = []
    for index, entry in enumerate(run["spec"].get("resume") or []):
        state = "refused" if index in refusals else "delivered" if index < delivered else "pending"
        entries.append({"index": index, **entry, "state": state, "refusal": refusals.get(index)})
    return entries


def _refusals(events: list[dict[str, Any]]) -> dict[int, str]:
    """resume index -> the operator's refusal message (from ResumeRefused Events)."""
    found = {}
    for event in events:
        message = event.get("message") or ""
        if event.get("reason") == "ResumeRefused" and message.startswith("resume["):
            index = message[len("resume[") : message.index("]")]
            if index.isdigit():
                found[int(index)] = message.split(REFUSAL, 1)[-1]
    return found


def describe_data(cluster: Cluster, name: str, history: bool | None) -> dict[str, Any]:
    run = cluster.get(RUNS, name)
    status = run.get("status") or {}
    nodes = list(status.get("nodes") or [])
    source = "status"
    note = None
    older_exist = len(nodes) >= MAX_STATUS_NODES
    if history or (history is None and older_exist):
        execution = status.get("execution") or {}
        if not execution.get("workflowId"):
            note = "no Temporal execution yet"
        else:
            from .timeline import full_timeline  # noqa: PLC0415 - Temporal's SDK and the worker load only here

            try:
                nodes = full_timeline(execution["workflowId"], execution.get("runId"))
                source = "temporal"
            except CliError as exc:
                note = f"older nodes not shown: {exc.message}"
    events = cluster.events(name, run["metadata"].get("uid"))
    return {
        "name": name,
        "namespace": cluster.namespace,
        "workflow": run["spec"]["workflowRef"]["name"],
        "version": status.get("workflowVersion"),
        "phase": status.get("phase") or "Pending",
        "message": status.get("message"),
        "input": run["spec"].get("input") or {},
        "startedAt": status.get("startedAt"),
        "finishedAt": status.get("finishedAt"),
        "duration": status.get("duration"),
        "execution": status.get("execution"),
        "nodesCompleted": status.get("nodesCompleted", 0),
        "currentNode": status.get("currentNode"),
        "waitingFor": status.get("waitingFor"),
        "waiting": status.get("waiting") or [],
        "active": status.get("active") or [],
        "maps": status.get("maps") or [],
        "compensations": status.get("compensations") or [],
        "timeline": {"source": source, "note": note, "nodes": nodes},
        "output": status.get("output"),
        "error": status.get("error"),
        "resume": _resume_entries(run, events),
        "cancel": bool(run["spec"].get("cancel")),
    }


def _describe_view(data: dict[str, Any]) -> Any:
    lines: list[Any] = []
    version = f"@{data['version']}" if data["version"] else ""
    header = [
        ("Name", f"{data['namespace']}/{data['name']}"),
        ("Workflow", f"{data['workflow']}{version}"),
        ("Phase", out.phase_text(data["phase"])),
        ("Message", data["message"]),
        ("Input", out.compact(data["input"])),
        ("Started", data["startedAt"]),
        ("Finished", data["finishedAt"]),
        ("Duration", data["duration"] or out.span(out.between(data["startedAt"], data["finishedAt"]))),
        ("Execution", (data["execution"] or {}).get("workflowId")),
    ]
    lines.append(out.make_table(["", ""], [[f"[bold]{k}:[/]", v] for k, v in header if v]))
    waiting = data["waitingFor"]
    if waiting:
        lines.append(Text(""))
        options = ", ".join(waiting.get("options") or []) or "any input"
        lines.append(Text.from_markup(f"[bold magenta]Waiting for input[/] on [bold]{waiting['node']}[/]"))
        lines.append(Text(f"  {waiting.get('message', '')}"))
        lines.append(Text(f"  options: {options}   since {waiting.get('since')}"))
        lines.append(Text(f"  answer:  kubectl drift resume {data['name']} -n {data['namespace']} --choice ..."))
    lines += _cursor_sections(data)
    timeline = data["timeline"]
    lines.append(Text(""))
    title = "Nodes" + (" (from the Temporal history)" if timeline["source"] == "temporal" else "")
    lines.append(Text.from_markup(f"[bold]{title}:[/]"))
    rows = []
    for index, node in enumerate(timeline["nodes"], 1):
        seconds = out.between(node.get("startedAt"), node.get("finishedAt")) if node.get("finishedAt") else None
        rows.append([
            index, node["name"], node["type"], out.phase_text(node["phase"]), node.get("attempts", 1),
            node.get("startedAt"), out.span(seconds), node.get("message"),
        ])  # fmt: skip
    if data["currentNode"] and data["phase"] in ("Running", "Waiting"):
        rows.append(["", data["currentNode"], "", out.phase_text(data["phase"]), "", "", "", "now"])
    lines.append(
        out.make_table(["#", "NODE", "TYPE", "PHASE", "ATTEMPTS", "STARTED", "DURATION", "MESSAGE"], rows)
        if rows
        else Text("  none yet")
    )
    if timeline["note"]:
        lines.append(Text(f"  ({timeline['note']})"))
    if data["resume"]:
        lines.append(Text(""))
        lines.append(Text.from_markup("[bold]Resume entries:[/]"))
        lines.append(
            out.make_table(
                ["#", "NODE", "INPUT", "STATE"],
                [
                    [
                        e["index"],
                        e["node"],
                        out.compact(e.get("input", {})),
                        e["state"] + (f": {e['refusal']}" if e["refusal"] else ""),
                    ]
                    for e in data["resume"]
                ],
            )
        )
    if data["output"] is not None:
        lines.append(Text(""))
        lines.append(Text.from_markup("[bold]Output:[/]"))
        lines.append(Text(json.dumps(data["output"], indent=2)))
    if data["error"]:
        error = data["error"]
        lines.append(Text(""))
        lines.append(
            Text.from_markup(
                f"[bold red]Error:[/] {error.get('code')} at node {error.get('node')}: {error.get('message')}"
            )
        )
    return Group(*lines)


def _cursor_sections(data: dict[str, Any]) -> list[Any]:
    """Branches and items running or waiting now, map progress, and compensations."""
    sections: list[Any] = []
    tables = [
        ("Running in branches and items", ["NODE", "PATH", "SINCE"],
         [[a["node"], a.get("path"), a.get("since")] for a in data["active"]]),
        ("Waiting for input", ["NODE", "PATH", "MESSAGE", "OPTIONS"],
         [[w["node"], w.get("path"), w.get("message"), ", ".join(w.get("options") or [])]
          for w in data["waiting"] if len(data["waiting"]) > 1 or w.get("path")]),
        ("Maps", ["NODE", "PATH", "DONE", "RUNNING", "FAILED", "TOTAL"],
         [[m["node"], m.get("path"), m.get("succeeded", 0), m.get("running", 0), m.get("failed", 0), m["total"]]
          for m in data["maps"]]),
        ("Compensations", ["NODE", "UNDOES", "PATH", "PHASE", "MESSAGE"],
         [[c["node"], c["undoes"], c.get("path"), out.phase_text(c["phase"]), c.get("message")]
          for c in data["compensations"]]),
    ]  # fmt: skip
    for title, columns, rows in tables:
        if rows:
            sections += [Text(""), Text.from_markup(f"[bold]{title}:[/]"), out.make_table(columns, rows)]
    return sections


def describe_run(cluster: Cluster, name: str, history: bool | None, fmt: out.Format) -> None:
    out.emit(describe_data(cluster, name, history), fmt, _describe_view)


# start ----------------------------------------------------------------------------------------------------


def _wait_for_end(cluster: Cluster, name: str, timeout: float | None, quiet: bool) -> dict[str, Any]:
    """Poll the run until it ends, showing its phase and node on stderr; the final object."""
    deadline = time.monotonic() + timeout if timeout else None
    err = out.console(stderr=True)
    announced = None
    with err.status(f"{name}: Pending", spinner="dots") as spinner:
        while True:
            run = cluster.get(RUNS, name)
            status = run.get("status") or {}
            phase = status.get("phase") or "Pending"
            if phase in FINAL_PHASES:
                return run
            waiting = status.get("waitingFor")
            node = status.get("currentNode") or ""
            spinner.update(f"{name}: {phase} {node} ({status.get('nodesCompleted', 0)} nodes done)")
            if waiting and waiting.get("node") != announced and not quiet:
                announced = waiting.get("node")
                options = ", ".join(waiting.get("options") or [])
                err.print(f"{name}: waiting for input on {announced}: {waiting.get('message')}"
                          + (f" (options: {options})" if options else ""))  # fmt: skip
                err.print(f"  answer with: kubectl drift resume {name} -n {cluster.namespace}")
            if deadline and time.monotonic() > deadline:
                raise CliError(f"{name} is still {phase} after {timeout:g}s", EXIT_FAILED)
            time.sleep(POLL_SECONDS)


def _final_report(run: dict[str, Any], fmt: out.Format) -> int:
    status = run.get("status") or {}
    phase = status.get("phase")
    if fmt != out.Format.table:
        sys.stdout.write(out.dump({"name": run["metadata"]["name"], **status}, fmt) + "\n")
    else:
        summary = f"{run['metadata']['name']} {phase}"
        if status.get("duration"):
            summary += f" in {status['duration']}"
        if status.get("error"):
            error = status["error"]
            summary += f": {error.get('code')} at node {error.get('node')}: {error.get('message')}"
        elif status.get("message") and status.get("message") != phase:
            summary += f": {status['message']}"
        out.console().print(summary, markup=False, highlight=False)
        if status.get("output") is not None:
            print(json.dumps(status["output"], indent=2))
    return 0 if phase == "Succeeded" else EXIT_FAILED


def start(
    cluster: Cluster,
    *, workflow: str, input_path: str | None, name: str | None, version: str | None,
    wait: bool, timeout: float | None, fmt: out.Format,
) -> int:  # fmt: skip
    body = read_document(input_path) if input_path else {}
    found = cluster.get(WORKFLOWS, workflow)
    try:
        validate_input(found["spec"].get("inputSchema"), body)
    except DefinitionInvalid as exc:
        raise CliError(f"input does not fit workflow {workflow}'s inputSchema: {exc}") from None
    ref: dict[str, Any] = {"name": workflow}
    if version:
        ref["version"] = version
    metadata: dict[str, Any] = {"namespace": cluster.namespace}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{workflow}-"
    manifest = {
        "apiVersion": "drift.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": metadata,
        "spec": {"workflowRef": ref, "input": body},
    }
    created = cluster.create(RUNS, manifest)
    run_name = created["metadata"]["name"]
    if not wait:
        if fmt == out.Format.table:
            print(f"workflowrun/{run_name} created")
        else:
            sys.stdout.write(out.dump({"name": run_name, "namespace": cluster.namespace}, fmt) + "\n")
        return 0
    out.console(stderr=True).print(f"workflowrun/{run_name} created", highlight=False)
    return _final_report(_wait_for_end(cluster, run_name, timeout, quiet=False), fmt)


# cancel ---------------------------------------------------------------------------------------------------


def _unfinished(cluster: Cluster, name: str, action: str) -> dict[str, Any]:
    run = cluster.get(RUNS, name)
    phase = (run.get("status") or {}).get("phase")
    if phase in FINAL_PHASES:
        raise CliError(f"cannot {action} {name}: the run already ended ({phase})", EXIT_FAILED)
    return run


def cancel(cluster: Cluster, name: str, wait: bool, timeout: float | None) -> int:
    run = _unfinished(cluster, name, "cancel")
    if not run["spec"].get("cancel"):
        cluster.patch(RUNS, name, {"spec": {"cancel": True}})
    print(f"workflowrun/{name} cancel requested")
    if wait:
        ended = _wait_for_end(cluster, name, timeout, quiet=True)
        _final_report(ended, out.Format.table)
        return 0 if ended["status"].get("phase") == "Cancelled" else EXIT_FAILED
    return 0


# resume ---------------------------------------------------------------------------------------------------


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """`k=v` pairs; a value is JSON when it parses as JSON (numbers, true, objects), else a string."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CliError(f"--set {item!r}: expected key=value")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def resume(
    cluster: Cluster,
    *, name: str, node: str | None, path: str | None, choice: str | None, assignments: list[str],
    input_path: str | None, timeout: float,
) -> int:  # fmt: skip
    run = _unfinished(cluster, name, "resume")
    status = run.get("status") or {}
    waiting = status.get("waitingFor") or {}
    if path is None and node is None:
        path = waiting.get("path")
    node = node or waiting.get("node")
    if not node:
        raise CliError(
            f"{name} is not waiting for input ({status.get('phase') or 'Pending'}); give --node to queue an answer"
        )
    entry_input: dict[str, Any] = read_document(input_path, "resume input") if input_path else {}
    entry_input.update(parse_assignments(assignments))
    options = waiting.get("options") or [] if waiting.get("node") == node else []
    if choice is not None:
        entry_input["choice"] = choice
    if options and "choice" not in entry_input:
        if not sys.stdin.isatty():
            raise CliError(f"node {node} needs a choice: one of {', '.join(options)} (give --choice)")
        print(waiting.get("message", ""))
        entry_input["choice"] = typer.prompt("choice", type=typer.Choice(options))
    if options and entry_input.get("choice") not in options:
        raise CliError(f"resume of {node} refused: input.choice must be one of {', '.join(options)}", EXIT_FAILED)
    entry = {"node": node, "input": entry_input, **({"path": path} if path else {})}
    index = _append_resume(cluster, name, run, entry)
    print(f"workflowrun/{name} resume[{index}] for node {node}{f' at {path}' if path else ''} added")
    return _await_delivery(cluster, name, index, timeout)


def _append_resume(cluster: Cluster, name: str, run: dict[str, Any], entry: dict[str, Any]) -> int:
    """Append to spec.resume with a JSON patch guarded by a test of the current list; its index."""
    for _ in range(5):
        current = run["spec"].get("resume")
        if current is None:
            patch = [{"op": "add", "path": "/spec/resume", "value": [entry]}]
        else:
            patch = [
                {"op": "test", "path": "/spec/resume", "value": current},
                {"op": "add", "path": "/spec/resume/-", "value": entry},
            ]
        try:
            cluster.patch(RUNS, name, patch)
            return len(current or [])
        except CliError as exc:
            if "test" not in exc.message.lower():
                raise
            run = cluster.get(RUNS, name)
    raise CliError(f"{name}: spec.resume kept changing; try again")


def _await_delivery(cluster: Cluster, name: str, index: int, timeout: float) -> int:
    """Wait until the operator delivered entry `index`; report a refusal at once."""
    deadline = time.monotonic() + timeout
    while True:
        run = cluster.get(RUNS, name)
        status = run.get("status") or {}
        if int(status.get("resumesDelivered") or 0) > index:
            refusal = _refusals(cluster.events(name, run["metadata"].get("uid"))).get(index)
            message = status.get("message") or ""
            if refusal is None and message.startswith(f"resume[{index}] ") and REFUSAL in message:
                refusal = message.split(REFUSAL, 1)[1]
            if refusal:
                out.console(stderr=True).print(
                    f"error: resume[{index}] refused: {refusal}", markup=False, highlight=False
                )
                return EXIT_FAILED
            print(f"workflowrun/{name} resume[{index}] accepted; the run is {status.get('phase')}")
            return 0
        if status.get("phase") in FINAL_PHASES:
            raise CliError(f"{name} ended ({status['phase']}) before resume[{index}] was delivered", EXIT_FAILED)
        if time.monotonic() > deadline:
            print(f"workflowrun/{name} resume[{index}] not delivered yet (is the operator running?)")
            return EXIT_FAILED
        time.sleep(0.5)
