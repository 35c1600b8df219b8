"""Reading what a person hands the CLI: input documents and folders of manifests, with file and line."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from drift.models.resources import API_VERSION

from .cli_errors import CliError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
DRIFT_KINDS = ("NodeDefinition", "Workflow", "WorkflowRun", "WorkflowSchedule")


def read_document(path: str, what: str = "input") -> dict[str, Any]:
    """One JSON or YAML mapping from a file, or from stdin for `-`."""
    name = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CliError(f"cannot read {what} file {name}: {exc.strerror}") from None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CliError(f"{name}{where}: {what} is not valid JSON or YAML: {problem}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CliError(f"{name}: {what} must be a JSON object (a mapping), not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Manifest:
    """One Drift object found in a file."""

    path: str
    line: int
    kind: str
    name: str
    namespace: str | None
    body: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}/{self.name}"


@dataclass(frozen=True)
class FileProblem:
    """A file that cannot be read as manifests (syntax error, not a mapping, no name)."""

    path: str
    line: int
    message: str


def _files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        elif path.exists():
            found.append(path)
        else:
            raise CliError(f"{text}: no such file or folder")
    return found


def _documents(text: str) -> list[tuple[int, Any]]:
    """(first line, value) of every YAML document in `text`."""
    loader = yaml.SafeLoader(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            documents.append((node.start_mark.line + 1, loader.construct_document(node)))
    finally:
        loader.dispose()
    return documents


def load_manifests(paths: list[str]) -> tuple[list[Manifest], list[FileProblem]]:
    """Drift's objects in the given files and folders (other kinds are skipped), and unreadable files."""
    manifests, problems = [], []
    for path in _files(paths):
        shown = str(path)
        try:
            documents = _documents(path.read_text())
        except OSError as exc:
            problems.append(FileProblem(shown, 1, f"cannot read: {exc.strerror}"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            problems.append(FileProblem(shown, mark.line + 1 if mark else 1, f"not valid YAML: {problem}"))
            continue
        for line, doc in documents:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                problems.append(FileProblem(shown, line, "a manifest must be a mapping"))
                continue
            items = doc.get("items") if doc.get("kind") == "List" else [doc]
            for item in items or ():
                if not isinstance(item, dict) or item.get("kind") not in DRIFT_KINDS:
                    continue
                if item.get("apiVersion") != API_VERSION:
                    problems.append(FileProblem(shown, line, f"{item['kind']}: apiVersion must be {API_VERSION}"))
                    continue
                meta = item.get("metadata") or {}
                name = meta.get("name") or meta.get("generateName")
                if not name:
                    problems.append(FileProblem(shown, line, f"{item['kind']}: metadata.name is required"))
                    continue
                manifests.append(Manifest(shown, line, item["kind"], name, meta.get("namespace"), item))
    return manifests, problems
