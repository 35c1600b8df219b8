"""`kubectl drift` (also `drift`): the command line. Each command is a thin layer over one module."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sys
from typing import Annotated

import typer
from kubernetes.client.exceptions import ApiException

from . import rendering as out
from .cli_errors import EXIT_FAILED, EXIT_USAGE, CliError
from .graph_render import GraphFormat, render, run_states

app = typer.Typer(
    name="kubectl drift",
    help="Drift's everyday command line: runs, resume, validate, graph, node test, simulate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
describe_app = typer.Typer(help="Show one object in detail.", no_args_is_help=True)
node_app = typer.Typer(help="Work with one NodeDefinition.", no_args_is_help=True)
app.add_typer(describe_app, name="describe")
app.add_typer(node_app, name="node")

Namespace = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Namespace (default: the context's, else default).")
]
Context = Annotated[str | None, typer.Option("--context", help="Kubeconfig context to use.")]
Output = Annotated[out.Format, typer.Option("--output", "-o", help="Output format.")]
Files = Annotated[
    list[str] | None,
    typer.Option("--filename", "-f", help="Take definitions from these manifest files or folders, not the cluster."),
]
RunInput = Annotated[str | None, typer.Option("--input", "-i", help="Run input: a JSON/YAML file, - for stdin.")]


def _cluster(namespace: str | None, context: str | None):
    from .kube_access import Cluster

    return Cluster(namespace, context)


# Runs -----------------------------------------------------------------------------------------------------


@app.command()
def runs(
    namespace: Namespace = None,
    context: Context = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    output: Output = out.Format.table,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Runs per list request (pages, as kubectl's --chunk-size).")
    ] = 500,
    trigger: Annotated[
        str | None,
        typer.Option("--trigger", help="A WorkflowTrigger's runs, from Temporal (recorded as WorkflowRuns or not)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="With --trigger: the newest this many runs.")] = 50,
) -> None:
    """List WorkflowRuns: phase, workflow@version, node, progress, age, duration."""
    if trigger is not None:
        if watch:
            raise CliError("--watch follows WorkflowRuns; --trigger lists a trigger's runs once")
        from .trigger_runs import trigger_runs, trigger_runs_table

        out.emit(trigger_runs(_cluster(namespace, context), trigger, limit), output, trigger_runs_table)
        return
    from .run_commands import runs as list_runs

    list_runs(_cluster(namespace, context), watch, output, chunk_size)


@describe_app.command("run")
def describe_run(
    name: str,
    namespace: Namespace = None,
    context: Context = None,
    history: Annotated[
        bool | None,
        typer.Option(
            "--history/--no-history",
            help="Rebuild the whole node timeline from the Temporal history "
            "(default: when the status holds only the last 50 nodes).",
        ),
    ] = None,
    output: Output = out.Format.table,
) -> None:
    """A run's node timeline, what it waits for, its resume entries, output and error."""
    from .run_commands import describe_run as describe

    describe(_cluster(namespace, context), name, history, output)


@app.command()
def start(
    workflow: str,
    input_file: RunInput = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name (default: WORKFLOW-xxxxx).")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Pin this workflow version.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run; exit 0 only if it Succeeded.")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", help="With --wait: give up after seconds.")] = None,
    namespace: Namespace = None,
    context: Context = None,
    output: Output = out.Format.table,
) -> None:
    """Start a WorkflowRun of WORKFLOW."""
    from .run_commands import start as start_run

    raise typer.Exit(
        start_run(
            _cluster(namespace, context),
            workflow=workflow,
            input_path=input_file,
            name=name,
            version=version,
            wait=wait,
            timeout=timeout,
            fmt=output,
        )
    )


@app.command()
def cancel(
    name: str,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run is Cancelled.")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", help="With --wait: give up after seconds.")] = None,
    namespace: Namespace = None,
    context: Context = None,
) -> None:
    """Cancel a run (spec.cancel: true)."""
    from .run_commands import cancel as cancel_run

    raise typer.Exit(cancel_run(_cluster(namespace, context), name, wait, timeout))


@app.command()
def resume(
    name: str,
    node: Annotated[str | None, typer.Option("--node", help="Instruction node (default: the one it waits on).")] = None,
    path: Annotated[
        str | None,
        typer.Option(
            "--path", help="The instance in a branch or map item, e.g. notify[42] (default: the waiting one's)."
        ),
    ] = None,
    choice: Annotated[str | None, typer.Option("--choice", help="One of the instruction's options.")] = None,
    assignments: Annotated[
        list[str] | None, typer.Option("--set", help="key=value in the answer (JSON values parsed); repeatable.")
    ] = None,
    input_file: Annotated[str | None, typer.Option("--input", "-i", help="The answer from a JSON/YAML file.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the operator's delivery.")] = 30.0,
    namespace: Namespace = None,
    context: Context = None,
) -> None:
    """Answer an instruction node (appends to spec.resume); prompts for a choice when none is given."""
    from .run_commands import resume as resume_run

    raise typer.Exit(
        resume_run(
            _cluster(namespace, context),
            name=name,
            node=node,
            path=path,
            choice=choice,
            assignments=assignments or [],
            input_path=input_file,
            timeout=timeout,
        )
    )


# Definitions ----------------------------------------------------------------------------------------------


@app.command()
def validate(
    filename: Annotated[list[str], typer.Option("--filename", "-f", help="Manifest files or folders (repeatable).")],
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace of manifests that name none.")
    ] = "default",
    output: Output = out.Format.table,
) -> None:
    """Check manifests offline with the operator's own validator; exit 1 when any has a problem."""
    from .offline_validation import as_data, validate_manifests

    findings, checked = validate_manifests(filename, namespace)
    if output != out.Format.table:
        sys.stdout.write(out.dump(as_data(findings), output) + "\n")
    else:
        for finding in findings:
            print(finding.line_text())
        files = len({f.file for f in findings})
        summary = (
            f"{len(findings)} problem{'s' * (len(findings) != 1)} in {files} file{'s' * (files != 1)}"
            if findings
            else f"ok: {checked} Drift object{'s' * (checked != 1)} checked"
        )
        print(summary, file=sys.stderr)
    raise typer.Exit(EXIT_FAILED if findings else 0)


@app.command()
def graph(
    target: Annotated[str, typer.Argument(help="A Workflow, or a WorkflowRun (run/NAME) to overlay its node states.")],
    fmt: Annotated[GraphFormat, typer.Option("--format", help="Output format.")] = GraphFormat.mermaid,
    filename: Files = None,
    namespace: Namespace = None,
    context: Context = None,
) -> None:
    """Draw a workflow (Mermaid, Graphviz DOT or text); for a run, with each node's state."""
    from .definition_sources import pinned_graph, run_graph, source
    from .kube_access import RUNS, WORKFLOWS

    definitions = source(filename, namespace, context)
    kind, _, name = target.rpartition("/")
    kind = kind.lower()
    if kind not in ("", "workflow", "workflows", "wf", "run", "runs", "wfr", "workflowrun", "workflowruns"):
        raise CliError(f"{target}: give WORKFLOW, workflow/NAME or run/NAME")
    if kind in ("run", "runs", "wfr", "workflowrun", "workflowruns") or (
        not kind and definitions.cluster is not None and definitions.cluster.find(WORKFLOWS, name) is None
    ):
        if definitions.cluster is None:
            raise CliError("a run's graph needs the cluster (leave out -f)")
        run = definitions.cluster.get(RUNS, name)
        sys.stdout.write(render(run_graph(definitions, run), fmt, run_states(run.get("status") or {})))
        return
    sys.stdout.write(render(pinned_graph(definitions, name), fmt, {}))


@node_app.command("test")
def node_test(
    nodedef: Annotated[str, typer.Argument(help="The NodeDefinition to run.")],
    input_file: RunInput = None,
    run_context: Annotated[
        str | None, typer.Option("--run-context", help="The run context the node sees (JSON/YAML file).")
    ] = None,
    filename: Files = None,
    namespace: Namespace = None,
    context: Context = None,
    output: Output = out.Format.json,
) -> None:
    """Run one NodeDefinition on its own against the real services it calls; exit 1 if it fails."""
    from .definition_sources import source, standalone_node
    from .manifest_files import read_document
    from .node_commands import run_node

    definitions = source(filename, namespace, context)
    node = standalone_node(definitions, nodedef)
    run_input = read_document(input_file) if input_file else {}
    values = read_document(run_context, "run context") if run_context else {}

    def core():
        return (definitions.cluster or _cluster(namespace, context)).core

    result = asyncio.run(run_node(node, definitions.namespace, run_input, values, core))
    if output == out.Format.table:
        _print_node_result(result)
    else:
        sys.stdout.write(out.dump(result, output) + "\n")
    raise typer.Exit(0 if result["phase"] in ("Succeeded", "Waiting") else EXIT_FAILED)


def _print_node_result(result: dict) -> None:
    attempts = result.get("attempts")
    tries = f" after {attempts} attempt{'s' * (attempts != 1)}" if attempts else ""
    print(f"{result['node']} ({result['type']}): {result['phase']}{tries}")
    if result.get("error"):
        print(f"error: {result['error']['code']}: {result['error']['message']}")
    for key, value in (result.get("context") or {}).items():
        print(f"context.{key} = {out.compact(value, 2000)}")
    if result.get("run"):
        print(f"run ends {result['run']['phase']}: {out.compact(result['run'], 2000)}")
    if result["phase"] == "Waiting":
        print(f"would wait for input: {result['message']} (options: {', '.join(result['options']) or 'any'})")


@app.command()
def simulate(
    workflow: str,
    input_file: RunInput = None,
    responses_file: Annotated[
        str | None, typer.Option("--responses", "-r", help="Stubbed http answers and resume inputs (JSON/YAML).")
    ] = None,
    filename: Files = None,
    namespace: Namespace = None,
    context: Context = None,
    output: Output = out.Format.table,
) -> None:
    """Dry-run a workflow with stubbed http responses and resume inputs; nothing starts on Temporal."""
    from .definition_sources import pinned_graph, source
    from .manifest_files import read_document
    from .simulation import Responses
    from .simulation import simulate as run_simulation

    definitions = source(filename, namespace, context)
    graph_ = pinned_graph(definitions, workflow)
    run_input = read_document(input_file) if input_file else {}
    responses = Responses.parse(read_document(responses_file, "responses") if responses_file else {})

    def child_graph(node):  # the child Workflow as the definitions hold it now
        return pinned_graph(definitions, node.workflow.ref.name)

    result = asyncio.run(run_simulation(graph_, run_input, responses, definitions.namespace, child_graph))
    if output == out.Format.table:
        _print_simulation(result)
    else:
        sys.stdout.write(out.dump(result, output) + "\n")
    raise typer.Exit(0 if result["phase"] == "Succeeded" else EXIT_FAILED)


def _print_simulation(result: dict, indent: str = "") -> None:
    marks = {"Succeeded": "ok", "Failed": "FAILED"}
    message = f" ({result['message']})" if result.get("message") else ""
    print(f"{indent}{result['workflow']}: {result['phase']}{message}")
    children = result.get("subWorkflows") or {}
    for index, node in enumerate(result["path"], 1):
        attempts = f", {node['attempts']} attempts" if node["attempts"] != 1 else ""
        note = f": {node['message']}" if node.get("message") else ""
        print(f"{indent}  {index:>3}. {node['name']} ({node['type']}) {marks[node['phase']]}{attempts}{note}")
        if node["type"] == "workflow" and node["name"] in children:
            _print_simulation(children[node["name"]], indent + "       ")
    for undo in result.get("compensations") or []:
        note = f": {undo['message']}" if undo.get("message") else ""
        print(f"{indent}  compensated {undo['undoes']} with {undo['node']}: {undo['phase']}{note}")
    if result.get("waitingFor"):
        waiting = result["waitingFor"]
        options = ", ".join(waiting["options"]) or "any"
        print(f"{indent}  ...  {waiting['node']} waits for input: {waiting['message']} (options: {options})")
    if result.get("output") is not None:
        print(f"{indent}output: {out.compact(result['output'], 4000)}")
    if result.get("error"):
        error = result["error"]
        where = f" at node {error['node']}" if error.get("node") else ""
        print(f"{indent}error: {error['code']}{where}: {error['message']}")


# Entry point ------------------------------------------------------------------------------------------------


def main() -> None:
    """Run the CLI; a person's mistake or an unreachable service is one line on stderr, never a traceback."""
    _exit_before_finalizing(_exit_code())


def _exit_code() -> int:
    try:
        app(prog_name="kubectl drift" if os.path.basename(sys.argv[0]).startswith("kubectl") else "drift")
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 1
        return exc.code or 0
    except CliError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except ApiException as exc:
        print(f"error: Kubernetes API: {exc.status} {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return 0


def _exit_before_finalizing(code: int) -> None:
    """Exit once the exit handlers have run and the output is flushed, without interpreter finalization.

    Temporal's client leaves Rust runtime threads that may call back into Python while the interpreter is torn
    down, aborting a command that had succeeded ("PyGILState_Release ... finalizing", temporalio/sdk-python#300).
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader that has gone (`| head`) is not the command's failure
            stream.flush()
    os._exit(code)
