"""Who may call a route: every route declares an :class:`AuthPolicy` in its ``opt``.

``create_app`` refuses to build an application with a route that declares none, so a route can
not be public by omission: public routes say ``PUBLIC`` on purpose. The request middleware
verifies the bearer token against the host's audience and applies the policy (401 without a
valid token, 403 when the principal lacks the role, permission or scope).

A staff rule names either roles (``staff("payments.finance")``) or a permission
(``staff(permission="payments.write")``). Tokens carry roles only; which permissions a role grants
is declared once, by :class:`~localgov.kernel.plugins.Role` (the core roles and those of the
plugins), gathered by the application into :class:`Grants` and consulted per request. So a new
role that grants ``payments.write`` opens every route that needs it without touching a route,
and revoking a role takes effect at the member's next token, as with roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from localgov.kernel.auth.tokens import ACR_LEVELS, Principal, PrincipalKind, acr_rank

if TYPE_CHECKING:
    from localgov.kernel.plugins import Role

AUTH_OPT = "auth"
BEARER = "bearer"
#: Formerly a second OpenAPI scheme for API clients; every operation now declares ``bearer`` only.
OAUTH2 = "oauth2"


class Grants(msgspec.Struct, frozen=True):
    """The permissions each staff role grants: the core roles and those of the application's plugins.

    There is no wildcard: ``tenant_admin`` grants what it declares, not everything. An LAO's
    administrator manages accounts and structure; handling money (issuing bills, voiding
    receipts) stays with the roles a service declares for it (separation of duties).
    """

    by_role: Mapping[str, frozenset[str]] = msgspec.field(default_factory=dict)

    @classmethod
    def of(cls, roles: Iterable[Role]) -> Grants:
        """Gathered from role declarations; a role code declared twice grants the union."""
        by_role: dict[str, set[str]] = {}
        for role in roles:
            by_role.setdefault(role.code, set()).update(role.permissions)
        return cls(by_role={code: frozenset(perms) for code, perms in by_role.items()})

    def permissions_of(self, roles: Iterable[str]) -> frozenset[str]:
        """Every permission granted by any of ``roles`` (unknown roles grant nothing)."""
        out: set[str] = set()
        for role in roles:
            out |= self.by_role.get(role, frozenset())
        return frozenset(out)

    def roles_granting(self, permission: str) -> frozenset[str]:
        """The roles that grant ``permission``."""
        return frozenset(code for code, perms in self.by_role.items() if permission in perms)


#: No role grants anything: a permission rule checked against it admits nobody (fails closed).
NO_GRANTS = Grants()


class Allow(msgspec.Struct, frozen=True):
    """One kind of principal, with any one of ``roles`` (staff, operator), a role granting any one
    of ``permissions`` (staff), or any one of ``scopes`` (clients)."""

    kind: PrincipalKind
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    #: Citizens: the login's assurance level must be at least this one (:data:`ACR_LEVELS`).
    acr: str = ""

    def admits(self, principal: Principal, grants: Grants = NO_GRANTS) -> bool:
        return self.admits_but_acr(principal, grants) and acr_rank(principal.acr) >= acr_rank(self.acr)

    def admits_but_acr(self, principal: Principal, grants: Grants = NO_GRANTS) -> bool:
        """Whether the rule would admit ``principal`` if his login had the assurance level it asks."""
        if principal.kind != self.kind:
            return False
        if self.roles and not self.roles & principal.roles:
            return False
        if self.permissions and not self.permissions & grants.permissions_of(principal.roles):
            return False
        return not (self.scopes and not self.scopes & principal.scopes)

    def describe(self) -> str:
        names = sorted(self.roles | self.scopes) + [f"permission:{p}" for p in sorted(self.permissions)]
        names += [f"acr:{self.acr}"] if self.acr else []
        return self.kind + (f"[{','.join(names)}]" if names else "")


class AuthPolicy(msgspec.Struct, frozen=True):
    """Public, or the principals admitted by any of ``allow``."""

    public: bool = False
    allow: tuple[Allow, ...] = ()

    def admits(self, principal: Principal, grants: Grants = NO_GRANTS) -> bool:
        """``grants`` resolves permission rules (the application's; without it they admit nobody)."""
        return any(rule.admits(principal, grants) for rule in self.allow)

    def step_up_to(self, principal: Principal, grants: Grants = NO_GRANTS) -> str | None:
        """The lowest assurance level that would admit ``principal`` (a citizen who logged in at a
        lower level: he must log in again, "step up"), or None when no level would."""
        levels = [rule.acr for rule in self.allow if rule.acr and rule.admits_but_acr(principal, grants)]
        return min(levels, key=acr_rank) if levels else None

    def __or__(self, other: AuthPolicy) -> AuthPolicy:
        if self.public or other.public:
            raise ValueError("a public route needs no other rule")
        return AuthPolicy(allow=self.allow + other.allow)

    def describe(self) -> str:
        if self.public:
            return "public"
        return " or ".join(rule.describe() for rule in self.allow)


#: Deliberately open to anyone (a public profile, health probes, key sets, the API document).
PUBLIC = AuthPolicy(public=True)


def staff(*roles: str, permission: str | None = None) -> AuthPolicy:
    """LAO staff holding any of ``roles``, or a role that grants ``permission`` (neither: any staff member).

    Give one or the other: a route guarded by a permission names no roles, so which roles open it
    is decided by the role declarations alone.
    """
    if permission is None:
        return AuthPolicy(allow=(Allow("staff", roles=frozenset(roles)),))
    if roles:
        raise ValueError("a staff rule names roles or a permission, not both")
    if not permission.strip():
        raise ValueError("an empty permission")
    return AuthPolicy(allow=(Allow("staff", permissions=frozenset({permission})),))


def citizen(acr: str = "") -> AuthPolicy:
    """A citizen; with ``acr``, one whose login reached at least that assurance level
    (``"substantial"`` to file a permit, while viewing a bill needs none). A citizen below it gets
    401 ``step_up_required`` naming the level (RFC 9470), and logs in again asking for it."""
    if acr and acr not in ACR_LEVELS:
        raise ValueError(f"unknown assurance level {acr!r}; one of {', '.join(ACR_LEVELS)}")
    return AuthPolicy(allow=(Allow("citizen", acr=acr),))


def client(*scopes: str) -> AuthPolicy:
    """An integrator's API client granted any of ``scopes``."""
    return AuthPolicy(allow=(Allow("client", scopes=frozenset(scopes)),))


def operator(*roles: str) -> AuthPolicy:
    """The platform operator's staff holding any of ``roles``."""
    return AuthPolicy(allow=(Allow("operator", roles=frozenset(roles)),))


def guarded(policy: AuthPolicy) -> dict[str, Any]:
    """Keyword arguments for a route decorator: the policy, and its OpenAPI security requirements.

    One scheme, ``bearer`` (every token is sent as ``Authorization: Bearer <token>``): declaring a
    second scheme for the same header made generated clients send the raw token. The requirement
    objects are alternatives (any one suffices, as the policy's rules are): ``{"bearer": []}`` for a
    logged-in person, one ``{"bearer": ["<scope>"]}`` per scope an API client may hold instead.
    """
    out: dict[str, Any] = {"opt": {AUTH_OPT: policy}}
    if not policy.public:
        security: list[dict[str, list[str]]] = []
        if any(rule.kind != "client" for rule in policy.allow):
            security.append({BEARER: []})
        scopes = sorted({s for rule in policy.allow if rule.kind == "client" for s in rule.scopes})
        security.extend({BEARER: [scope]} for scope in scopes)
        if any(rule.kind == "client" and not rule.scopes for rule in policy.allow) and {BEARER: []} not in security:
            security.append({BEARER: []})
        out["security"] = security
    return out
