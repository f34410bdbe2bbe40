"""Schemathesis against the OpenAPI document: every operation, every role, never a 5xx.

(Driven through Hypothesis directly: schemathesis' pytest plugin does not run on this pytest.)
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.service.test_svc_roles import ROLES, build_world

EXAMPLES = 4  # per operation and role; the machine has two cores


def test_no_server_errors_for_any_role(api):
    build_world(api)
    headers = {role: {**api.headers(role), "Idempotency-Key": "fuzz"} for role in ROLES}
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            nonlocal calls
            for role in ROLES:
                response = case.call(headers=headers[role])
                calls += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{role}: {case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                    )

        run()
    print(f"\n{calls} fuzz calls")
    assert not failures, "\n".join(failures[:20])
