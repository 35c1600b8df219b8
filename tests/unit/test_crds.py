"""The generated CRDs: up to date with the models, structural, described everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from drift import crdgen
from drift.models.resources import KINDS, WORKFLOW, WORKFLOW_RUN


def test_crds_folder_matches_the_models():
    assert crdgen.main(["--check"]) == 0, "crds/ is stale: run `make crds`"


def test_generation_is_idempotent():
    assert crdgen.rendered() == crdgen.rendered()


def _walk(schema: dict[str, Any], path: str):
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from _walk(prop, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_field_is_described_and_structural(kind):
    schema = crdgen.open_api_schema(kind)
    for path, node in _walk(schema, kind.kind):
        if path == f"{kind.kind}.metadata":
            continue
        assert node.get("description"), f"{path} has no description"
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path} has no type"
        forbidden = {"anyOf", "oneOf", "$ref", "title", "default", "propertyNames"}
        assert not forbidden & set(node), f"{path} has {forbidden & set(node)}"
        assert isinstance(node.get("additionalProperties", {}), dict), f"{path}: additionalProperties must be a schema"
        assert "patternProperties" not in node, path


def test_workflow_nodes_are_a_list_map_keyed_by_name():
    nodes = crdgen.open_api_schema(WORKFLOW)["properties"]["spec"]["properties"]["nodes"]
    assert nodes["x-kubernetes-list-type"] == "map"
    assert nodes["x-kubernetes-list-map-keys"] == ["name"]
    rules = [rule["rule"] for rule in nodes["items"]["x-kubernetes-validations"]]
    assert "has(self.ref) != has(self.type)" in rules


def test_workflow_run_has_the_printer_columns_of_the_contract():
    columns = crdgen.crd(WORKFLOW_RUN)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns] == ["Phase", "Workflow", "Version", "Node", "Age", "Duration", "Message"]
    assert columns[-1]["priority"] == 1
