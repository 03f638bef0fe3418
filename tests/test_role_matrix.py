"""The role matrix of the whole application, read from the routes themselves.

For every guarded route on a tenant host and on the operator host: a principal of each admitted kind
holding one of the admitted roles or scopes (or, for a route guarded by a permission, a role that
grants it) passes the guard (whatever the handler then says about the empty request: never 401 or
the guard's 403, never a 500), and one of the same kind without them (for a permission: holding
every other role), or of a kind the route does not admit, gets the guard's 403. Runs on a database
of its own: the walk sends requests with example ids to every route.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from localgov.kernel.auth.guards import Allow, AuthPolicy, Grants
from localgov.kernel.auth.tokens import Principal
from localgov.kernel.db import create_engine
from localgov.plugins import REGISTRY
from localgov.settings import Settings
from tests.conftest import BASE, ClientFactory, host, make_settings
from tests.support.demo_plugin import DEMO
from tests.support.factories import make_tenant
from tests.support.routes import grants_of, policy_of, routes_of
from tests.support.tokens import bearer

PLUGINS = (*REGISTRY, DEMO)
KINDS = ("staff", "citizen", "client", "operator")


@pytest.fixture
def walk_settings(fresh_database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        fresh_database_url,
        export_dir=str(tmp_path / "exports"),
        mail_url=f"file://{tmp_path / 'mail'}",
        login_rate_limit=100_000,
    )


def granting(rule: Allow, grants: Grants) -> frozenset[str]:
    """The roles that grant any permission the rule requires."""
    return frozenset(role for permission in rule.permissions for role in grants.roles_granting(permission))


def admitted(rule: Allow, grants: Grants) -> tuple[frozenset[str], frozenset[str]]:
    """One role and one scope the rule admits (the first of each, sorted); for a rule that requires
    a permission, the first role that grants it."""
    roles = frozenset(sorted(rule.roles)[:1])
    if rule.permissions:
        assert granting(rule, grants), f"no role grants {sorted(rule.permissions)}: nobody can call the route"
        roles = frozenset(sorted(granting(rule, grants))[:1])
    scopes = frozenset(sorted(rule.scopes)[:1])
    return roles, scopes


def refused_principals(policy: AuthPolicy, grants: Grants) -> Iterator[tuple[str, frozenset[str], frozenset[str]]]:
    """Principals the policy must refuse: each admitted kind stripped of its roles and scopes (and,
    where a permission is required, holding every role that does not grant it), and every kind it
    does not admit at all (holding every role and scope the policy names or that grants its permissions)."""
    every_role = frozenset(r for rule in policy.allow for r in rule.roles | granting(rule, grants))
    every_scope = frozenset(s for rule in policy.allow for s in rule.scopes)
    kinds = {rule.kind for rule in policy.allow}
    for kind in KINDS:
        candidates = [(frozenset[str](), frozenset[str]())] if kind in kinds else [(every_role, every_scope)]
        for rule in policy.allow:
            if rule.kind == kind and rule.permissions:
                candidates.append((frozenset(grants.by_role) - granting(rule, grants), frozenset[str]()))
        for roles, scopes in candidates:
            probe = Principal(kind=kind, subject="probe", client_id="probe", roles=roles, scopes=scopes, token_id="t")
            # A citizen below a route's assurance level is told to step up (401), checked on its own.
            if not policy.admits(probe, grants) and policy.step_up_to(probe, grants) is None:
                yield kind, roles, scopes


def is_guard_refusal(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code == 403 and response.json().get("code") == "forbidden"


async def test_every_guarded_route_admits_its_roles_and_refuses_the_rest(
    client_for: ClientFactory, walk_settings: Settings
) -> None:
    engine = create_engine(walk_settings)
    try:
        tenant = await make_tenant(engine, services=[p.slug for p in PLUGINS])
    finally:
        await engine.dispose()
    async with client_for(settings_=walk_settings, plugins=PLUGINS, listen=False) as http:
        app: Litestar = http._transport.app  # type: ignore[attr-defined]
        grants = grants_of(app)
        checked = permission_routes = 0
        for surface, target, headers in (("tenant", tenant, host(tenant.slug)), ("operator", None, {"Host": BASE})):
            for method, template, path, handler in routes_of(app, surface):
                policy = policy_of(handler)
                if policy.public:
                    continue
                permission_routes += any(rule.permissions for rule in policy.allow)
                for rule in policy.allow:
                    roles, scopes = admitted(rule, grants)
                    token = bearer(target, kind=rule.kind, roles=roles, scopes=scopes, acr=rule.acr)  # type: ignore[arg-type]
                    response = await http.request(method, path, headers={**headers, **token})
                    where = (method, template, rule.kind, sorted(roles | scopes), response.status_code)
                    assert not is_guard_refusal(response), (where, response.text[:300])
                    assert response.status_code < 500, (where, response.text[:300])
                    if rule.acr:  # the same principal after a weaker login: 401 step_up_required
                        weak = bearer(target, kind=rule.kind, roles=roles, scopes=scopes)  # type: ignore[arg-type]
                        response = await http.request(method, path, headers={**headers, **weak})
                        assert response.status_code == 401, (where, response.text[:300])
                        assert response.json()["code"] == "step_up_required", where
                        assert response.json()["data"]["acr_values"] == rule.acr
                for kind, roles, scopes in refused_principals(policy, grants):
                    token = bearer(target, kind=kind, roles=roles, scopes=scopes)  # type: ignore[arg-type]
                    response = await http.request(method, path, headers={**headers, **token})
                    where = (method, template, kind, sorted(roles | scopes), response.status_code)
                    assert response.status_code == 403, (where, response.text[:300])
                    assert response.json()["code"] == "forbidden", where
                    assert response.json()["data"]["required"] == policy.describe()
                checked += 1
        # Identity, tenant administration, payments, the demo plugin and the operator API.
        assert checked > 80, checked
        # The structure's changes (units, positions, assignment) are guarded by a permission.
        assert permission_routes >= 12, permission_routes
