"""Who may call a route: every route declares an :class:`AuthPolicy` in its ``opt``.

``create_app`` refuses to build an application with a route that declares none, so a route can
not be public by omission: public routes say ``PUBLIC`` on purpose. The request middleware
verifies the bearer token against the host's audience and applies the policy (401 without a
valid token, 403 when the principal lacks the role or scope).
"""

from __future__ import annotations

from typing import Any

import msgspec

from localgov.kernel.auth.tokens import Principal, PrincipalKind

AUTH_OPT = "auth"
BEARER = "bearer"
#: The OpenAPI security scheme of API clients: OAuth 2.0 client credentials at ``/oauth/token``.
OAUTH2 = "oauth2"


class Allow(msgspec.Struct, frozen=True):
    """One kind of principal, with any one of ``roles`` (staff, operator) or ``scopes`` (clients)."""

    kind: PrincipalKind
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    def admits(self, principal: Principal) -> bool:
        if principal.kind != self.kind:
            return False
        if self.roles and not self.roles & principal.roles:
            return False
        return not (self.scopes and not self.scopes & principal.scopes)


class AuthPolicy(msgspec.Struct, frozen=True):
    """Public, or the principals admitted by any of ``allow``."""

    public: bool = False
    allow: tuple[Allow, ...] = ()

    def admits(self, principal: Principal) -> bool:
        return any(rule.admits(principal) for rule in self.allow)

    def __or__(self, other: AuthPolicy) -> AuthPolicy:
        if self.public or other.public:
            raise ValueError("a public route needs no other rule")
        return AuthPolicy(allow=self.allow + other.allow)

    def describe(self) -> str:
        if self.public:
            return "public"
        return " or ".join(
            rule.kind + (f"[{','.join(sorted(rule.roles | rule.scopes))}]" if rule.roles or rule.scopes else "")
            for rule in self.allow
        )


#: Deliberately open to anyone (a public profile, health probes, key sets, the API document).
PUBLIC = AuthPolicy(public=True)


def staff(*roles: str) -> AuthPolicy:
    """LAO staff holding any of ``roles`` (none given: any staff member)."""
    return AuthPolicy(allow=(Allow("staff", roles=frozenset(roles)),))


def citizen() -> AuthPolicy:
    return AuthPolicy(allow=(Allow("citizen"),))


def client(*scopes: str) -> AuthPolicy:
    """An integrator's API client granted any of ``scopes``."""
    return AuthPolicy(allow=(Allow("client", scopes=frozenset(scopes)),))


def operator(*roles: str) -> AuthPolicy:
    """The platform operator's staff holding any of ``roles``."""
    return AuthPolicy(allow=(Allow("operator", roles=frozenset(roles)),))


def guarded(policy: AuthPolicy) -> dict[str, Any]:
    """Keyword arguments for a route decorator: the policy, and its OpenAPI security requirement.

    Any bearer token may be presented; a route open to API clients also names the ``oauth2``
    client-credentials scheme with the scopes it accepts, so generated clients know how to get one.
    """
    out: dict[str, Any] = {"opt": {AUTH_OPT: policy}}
    if not policy.public:
        security: list[dict[str, list[str]]] = [{BEARER: []}]
        client_rules = [rule for rule in policy.allow if rule.kind == "client"]
        if client_rules:
            security.append({OAUTH2: sorted({s for rule in client_rules for s in rule.scopes})})
        out["security"] = security
    return out
