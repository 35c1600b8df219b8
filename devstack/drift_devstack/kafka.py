"""One Kafka broker in KRaft mode (broker and controller in one JVM), from Maven Central's jars."""

from __future__ import annotations

import base64
import subprocess
import uuid

from . import toolchain
from .config import StackConfig
from .errors import StackError
from .hbase import LOG4J2
from .probes import kafka_api_versions
from .process import ProcessSpec

NODE_ID = 1


def _properties(config: StackConfig, ports: dict[str, int]) -> str:
    """server.properties of a single combined node: every internal topic with one replica."""
    client, controller = ports["kafka"], ports["kafka-controller"]
    properties = {
        "process.roles": "broker,controller",
        "node.id": NODE_ID,
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller}",
        "listeners": f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{client}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": config.data_dir / "kafka" / "logs",
        "num.partitions": 1,
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "group.initial.rebalance.delay.ms": 0,
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def _cluster_id() -> str:
    """A new cluster id: a random UUID in URL-safe base64, never starting with "-" (the storage tool would read
    it as an option; Kafka's own Uuid.randomUuid avoids those the same way)."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def spec(config: StackConfig, ports: dict[str, int]) -> ProcessSpec:
    """The broker; its storage is formatted once (a new cluster id) before its first start."""
    home = config.data_dir / "kafka"
    server = home / "server.properties"
    log4j = home / "log4j2.properties"
    java = toolchain.require_command("java", "install a Java 17 runtime")

    def jvm() -> list[str]:
        return [java, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{toolchain.kafka_lib(config)}/*"]

    def prepare() -> None:
        home.mkdir(parents=True, exist_ok=True)
        server.write_text(_properties(config, ports))
        log4j.write_text(LOG4J2)
        if (home / "logs" / "meta.properties").exists():
            return
        cluster_id = _cluster_id()
        format_storage = [*jvm(), "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(server)]
        result = subprocess.run(format_storage, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"kafka: formatting its storage failed: {result.stdout}{result.stderr}".strip())

    return ProcessSpec(
        name="kafka",
        argv=[*jvm(), "-Xmx512m", "-XX:+UseSerialGC", "kafka.Kafka", str(server)],
        ready=lambda: kafka_api_versions(ports["kafka"]),
        prepare=prepare,
    )
