"""Readiness probes: each answers "does the service serve requests yet?" without third-party clients."""

from __future__ import annotations

import http.client
import socket
import ssl
import struct
import subprocess
from pathlib import Path


def tcp_open(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def https_ok(port: int, path: str, ca_file: Path, token: str) -> bool:
    """An authenticated GET on 127.0.0.1:`port` answers 200 (the API server's /readyz)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().status == 200
    finally:
        connection.close()


def http_ok(port: int, path: str) -> bool:
    """A plain GET on 127.0.0.1:`port` answers 200 (Drift's /healthz)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    finally:
        connection.close()


def redis_pong(port: int) -> bool:
    """Redis answers PING."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def command_ok(argv: list[str]) -> bool:
    """A CLI health command exits 0 (Temporal's `operator cluster health`)."""
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0


def hbase_thrift_tables(port: int) -> bool:
    """HBase's Thrift server answers getTableNames: the master is up and hbase:meta is online.

    A hand-made Thrift binary-protocol call on a buffered transport (what happybase speaks); the
    Thrift port opens before HBase can serve, when the call returns an IOError instead of a list.
    """
    name = b"getTableNames"
    call = struct.pack(">Ii", 0x80010001, len(name)) + name + struct.pack(">i", 1) + b"\x00"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(call)
        header_size = 4 + 4 + len(name) + 4 + 3
        reply = b""
        while len(reply) < header_size:
            chunk = sock.recv(4096)
            if not chunk:
                return False
            reply += chunk
    message_type = struct.unpack(">I", reply[:4])[0] & 0xFF
    field_type, field_id = struct.unpack(">bh", reply[header_size - 3 : header_size])
    return message_type == 2 and field_type == 15 and field_id == 0  # REPLY carrying `success: list`


def kafka_api_versions(port: int) -> bool:
    """A Kafka broker answers ApiVersions (v0, header v1) without an error: it serves its listener.

    The broker opens its client listener only once it has joined the KRaft quorum and been unfenced.
    """
    client = b"drift-stack-probe"
    header = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack(">i", len(header)) + header)
        reply = b""
        while len(reply) < 10:
            chunk = sock.recv(4096)
            if not chunk:
                return False
            reply += chunk
    correlation_id, error_code = struct.unpack(">ih", reply[4:10])
    return correlation_id == 1 and error_code == 0
