"""The API client's reading of the API server's refusals."""

from __future__ import annotations

import json

from drift.kube_client import KubeError, namespace_terminating

TERMINATING = json.dumps({
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": 'events "b-33.acbdf32af51e" is forbidden: unable to create new content in namespace bench-fca8b8 '
               "because it is being terminated",
    "reason": "Forbidden",
    "details": {"name": "b-33.acbdf32af51e", "kind": "events", "causes": [{"reason": "NamespaceTerminating"}]},
    "code": 403,
})[:500]  # fmt: skip
RBAC = json.dumps({
    "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
    "message": 'events is forbidden: User "system:serviceaccount:drift:drift-operator" cannot create resource',
})  # fmt: skip


def test_an_event_refused_in_a_namespace_being_deleted_is_told_apart_from_other_refusals():
    assert namespace_terminating(KubeError(403, TERMINATING))
    assert not namespace_terminating(KubeError(403, RBAC))  # a missing permission is still worth a warning
    assert not namespace_terminating(KubeError(500, TERMINATING))
    assert not namespace_terminating(TimeoutError())
