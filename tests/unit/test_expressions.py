"""Expressions and templates: values, types, error messages with columns, bounded cost, no crashes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.expressions import (
    FUNCTIONS,
    MAX_ITERATIONS,
    ExpressionError,
    compile_expression,
    compile_template,
    comprehension_depth,
    render_json,
)

VARS = {
    "input": {"orderId": "A-1", "items": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 1}]},
    "context": {"order": {"amount": 120}, "manager-approval": {"choice": "approve"}},
    "result": {"status": 200, "body": {"ok": True}},
    "error": None,
}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("context.order.amount > 100", True),
        ("context['manager-approval'].choice == 'approve'", True),
        ("{'refunded': context.order.amount}", {"refunded": 120}),
        ("input.items.map(i, i.qty).size()", 2),
        ("input.items.exists(i, i.sku == 'y')", True),
        ("result.body.ok && result.status < 300", True),
        ("error == null", True),
        ("has(context.order.amount)", True),
    ],
)
def test_expressions_evaluate(source, value):
    assert compile_expression(source).evaluate(VARS) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Refund {{ context.order.amount }}?", "Refund 120?"),
        ("{{ context.order.amount }}", 120),
        ("{{ context.order }}", {"amount": 120}),
        ("{{ {'a': {'b': 1}} }}", {"a": {"b": 1}}),
        ("ids: {{ input.items.map(i, i.sku) }}", 'ids: ["x","y"]'),
        ("no templates", "no templates"),
        ("", ""),
        ("{{ '}}' }}", "}}"),
    ],
)
def test_templates_render_and_a_lone_template_keeps_its_type(text, value):
    assert compile_template(text).render(VARS) == value


def test_json_bodies_render_every_string_leaf():
    body = {"id": "{{ input.orderId }}", "amount": "{{ context.order.amount }}", "tags": ["x-{{ 1 + 1 }}", 3]}
    assert render_json(body, VARS) == {"id": "A-1", "amount": 120, "tags": ["x-2", 3]}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("context.order.amount >", "syntax error at column 23"),
        ("contxt.order", "unknown variable 'contxt'"),
        ("now()", "unknown function 'now'"),
        ("input.a.map(x, input.a.map(y, input.a.map(z, 1)))", "comprehensions nested 3 deep"),
        ("   ", "empty expression"),
        ("1" * 5000, "longer than 4096 characters"),
    ],
)
def test_compile_errors_are_specific(source, message):
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source)


def test_template_errors_give_the_column_in_the_whole_string():
    with pytest.raises(ExpressionError, match="syntax error at column 30"):
        compile_template("abc {{ context.order.amount > }} def")
    with pytest.raises(ExpressionError, match="unclosed template starting at column 5"):
        compile_template("abc {{ input")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("context.missing.field", "no such key: missing"),
        ("1 / 0", "division by zero"),
        ("input.orderId + 1", "evaluation failed"),
    ],
)
def test_evaluation_errors_are_expression_errors(source, message):
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source).evaluate(VARS)


def test_runaway_comprehensions_fail_fast_instead_of_hanging():
    runaway = compile_expression("input.l.map(a, input.l.map(b, a + b)).size()")
    assert runaway.evaluate({"input": {"l": list(range(100))}}) == 100
    with pytest.raises(ExpressionError, match=f"limit {MAX_ITERATIONS}"):
        runaway.evaluate({"input": {"l": list(range(1000))}})


def test_comprehension_depth_ignores_string_literals():
    assert comprehension_depth("'.map(' + input.a.map(x, x).size()") == 1
    assert comprehension_depth("input.a.all(x, input.b.exists(y, x == y))") == 2


@pytest.mark.parametrize("function", sorted(FUNCTIONS - {"has"}))
def test_every_allowed_function_is_implemented(function):
    samples = {
        "size": "size('abc')", "int": "int('5')", "uint": "uint(5)", "double": "double(1)", "string": "string(1)",
        "bytes": "bytes('a')", "dyn": "dyn(1)", "type": "type(1) == int",
        "timestamp": "timestamp('2024-01-01T00:00:00Z')", "duration": "duration('1h')",
        "contains": "'abc'.contains('b')", "startsWith": "'abc'.startsWith('a')", "endsWith": "'abc'.endsWith('c')",
        "matches": "'abc'.matches('^a')",
    }  # fmt: skip
    source = samples.get(function, f"timestamp('2024-01-01T00:00:00Z').{function}()")
    compile_expression(source).evaluate({})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_random_expression_strings_never_crash(source):
    try:
        expression = compile_expression(source)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expression.evaluate(VARS)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}' \"ab.+()[]1")), max_size=40))
def test_random_templates_never_crash(text):
    try:
        template = compile_template(text)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        template.render(VARS)
