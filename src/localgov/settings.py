"""Configuration from ``LOCALGOV_*`` environment variables, validated once at start.

Nothing here reads the environment at import time: call :func:`Settings.from_env`.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

PREFIX = "LOCALGOV_"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_S3_ENDPOINT_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")
#: S3 bucket names (path-style addressing): 3-63 lower-case letters, digits, dots and hyphens.
_S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_REGION_RE = re.compile(r"^[a-z0-9-]{1,40}$")
_S3_PREFIX_RE = re.compile(r"^([A-Za-z0-9_.-]+/)*$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@functools.cache
def trusted_networks(raw: str) -> tuple[IPNetwork, ...]:
    """The networks of ``LOCALGOV_TRUSTED_PROXIES`` (comma-separated addresses or CIDRs)."""
    out: list[IPNetwork] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR: {item!r}") from None
    return tuple(out)


class SettingsError(ValueError):
    """Raised when the environment does not describe a valid configuration."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Validated runtime configuration. Field ``x`` comes from ``LOCALGOV_X``."""

    #: PostgreSQL URL (``postgresql://user@host:port/db``). Empty: embedded server (dev mode).
    database_url: str = ""
    #: ``auto``: Citus mode when the database has the ``citus`` extension (docs/operations/citus.md);
    #: ``citus`` requires it, ``postgresql`` requires its absence.
    database_kind: Literal["auto", "postgresql", "citus"] = "auto"
    #: Tenants live at ``<slug>.<base_domain>``; the bare base domain serves the operator API.
    base_domain: str = "localhost"
    #: Folder for the embedded PostgreSQL and other local state in development mode.
    data_dir: str = ".localgov"
    env: Literal["development", "production", "test"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    #: Connections each process keeps open. Under load a request waits for one rather than opening
    #: an overflow connection that the pool closes again on return: that churn (a backend started
    #: and its codecs set up on every other request) put getBill's p99 over 120 ms at 32 clients
    #: (bench/README.md "Peers"); hence 16 kept and no overflow by default.
    db_pool_size: int = msgspec.field(default=16)
    db_max_overflow: int = 0
    db_pool_timeout_s: float = 10.0
    #: Connections older than this are closed and replaced (bounds a backend's catalog cache).
    db_connection_lifetime_s: int = 600
    #: A pooled connection that has served this many distinct tenants is replaced.
    #: 1000 measured best at 7,849 tenants (bench/README.md, "Scale"): 200 put the spread p99 over 100 ms.
    db_max_tenants_per_connection: int = 1000
    #: Send each tenant to the same few pooled connections (``localgov.kernel.pool``), so that a
    #: backend caches the catalog of a few tenants rather than of all of them. Off: any idle one.
    db_tenant_affinity: bool = True
    #: With the affinity on: how many of a process's pooled connections one tenant's requests may
    #: use while others' requests keep them busy (its home connection and the next ones; a tenant
    #: whose own requests fill them takes any idle one; 0: any, the home only a preference).
    db_connections_per_tenant: int = 2
    #: How long (ms) a request waits for one of its tenant's own connections while another is idle
    #: before it takes that one (0: until the pool's timeout): what a neighbour's long transaction
    #: can cost a tenant at most.
    db_tenant_wait_ms: int = 50
    #: Prepared statements of the fast read path (``kernel.reads``) each connection keeps **per
    #: tenant** (0: off). PostgreSQL re-analyses and re-plans a prepared statement whenever it runs
    #: under another search path than the last, so with one SQL text for every tenant a connection
    #: that serves a new tenant pays that (0.3–0.4 ms of the backend's CPU for getBill, against
    #: 0.1–0.2 for a repeat: bench/plan_cache.py). N > 0 gives a tenant its own statements on the
    #: connections that are its own (``db_connections_per_tenant``), the first N a connection meets,
    #: never evicted (a statement prepared again and again cost more than the re-plan it saves).
    #: Memory: 29 KiB for getBill's statement, 44 KiB once PostgreSQL has made it a generic plan
    #: (measured), so up to about 22 MiB per backend at 512 for statements like it; in the 2,000-tenant
    #: benchmark 12 MiB more per backend than with none (bench/README.md, "Bounded affinity").
    db_plans_per_tenant: int = 512
    #: Suspend (through the lifecycle) an LAO whose operator invoice is this many days past due;
    #: 0: never (the billing administrator decides). Checked by the worker's hourly billing job.
    billing_suspend_after_days: int = 0
    db_statement_timeout_ms: int = 30_000
    #: How long a request's statement waits for a lock (the API's connections only; 0: no bound).
    #: A table locked longer answers 503 ``database_unavailable`` with ``Retry-After``.
    db_lock_timeout_ms: int = 5_000
    #: ``/health/ready`` answers 503 unless a probe write (an insert into the outbox, rolled back)
    #: completes within this bound.
    ready_write_timeout_ms: int = 2_000
    #: How often each process re-reads the whole catalog even without a notification.
    catalog_refresh_s: float = 30.0
    worker_poll_s: float = 1.0
    worker_batch_size: int = 50
    outbox_max_attempts: int = 8
    migrate_processes: int = 0  # 0: one per CPU
    tenants_file: str = "tenants.yaml"
    #: Encrypts the private signing keys at rest. Required outside development (>= 32 characters).
    secret_key: str = ""
    access_token_ttl_s: int = 300
    #: A rotated-in key is published this long before it signs (every process reloads keys faster).
    key_publish_s: int = 120
    #: How often each process re-reads the signing keys.
    key_refresh_s: float = 30.0
    #: The reverse proxies (comma-separated addresses or CIDRs: ``10.0.0.0/8, 192.0.2.7``) whose
    #: ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed, by the application and by uvicorn.
    #: Empty (the default): nobody's; the client is the TCP peer.
    trusted_proxies: str = ""
    #: Replaced by ``trusted_proxies``: ``true`` believed any peer. Kept only to refuse it by name.
    trust_forwarded_for: bool = False
    #: Name servers asked for the custom-domain challenges (``host`` or ``host:port``, comma-separated;
    #: empty: the system's ``/etc/resolv.conf``), and how long one look-up may take.
    dns_nameservers: str = ""
    dns_timeout_s: float = 3.0
    #: The worker re-checks each LAO-claimed domain's TXT record this often: a pending one is verified
    #: once its record appears, a verified one stops routing after two failed checks in a row.
    domain_recheck_hours: float = 24.0
    #: Links in e-mails: ``<scheme>://<slug>.<base domain>[:port]``. Port 0: none.
    public_url_scheme: Literal["http", "https"] = "https"
    public_url_port: int = 0
    refresh_token_ttl_s: int = 14 * 24 * 3600
    #: Login attempts per client address and tenant (or operator host) in ``login_rate_window_s``.
    login_rate_limit: int = 10
    login_rate_window_s: int = 60
    #: Consecutive failed logins that lock an account, and for how long.
    lockout_threshold: int = 5
    lockout_s: int = 900
    invite_ttl_s: int = 72 * 3600
    password_reset_ttl_s: int = 3600
    password_min_length: int = 12
    #: The least zxcvbn score (0-4) a new password must reach (``kernel.auth.passwords``); 0: length only.
    password_min_score: int = 3
    #: Outgoing mail: ``smtp://user:pass@host:port`` (``smtps://`` for TLS), or ``file://<folder>``
    #: to write each message as an .eml file (development and tests). Empty: ``file://<data_dir>/mail``.
    mail_url: str = ""
    mail_from: str = "localgov <no-reply@localhost>"
    #: Citizens' OpenID Connect provider (authorization code + PKCE). Empty issuer: citizen login off.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid profile email phone"
    #: Client authentication at the provider's token endpoint: ``private_key_jwt`` (signed with the
    #: kernel's keys, published at ``/.well-known/jwks.json``), ``client_secret_basic``,
    #: ``client_secret_post``, or ``auto`` (the secret when one is set, else ``private_key_jwt``).
    oidc_client_auth: Literal["auto", "private_key_jwt", "client_secret_basic", "client_secret_post"] = "auto"
    #: Claim mapping, ``field=claim`` comma-separated (fields: name_th, name_en, email, phone,
    #: national_id); unnamed fields keep their defaults (see docs/identity.md).
    oidc_claims: str = ""
    #: Assurance levels of the provider, lowest first: ``level=acr``, comma-separated.
    oidc_acr_levels: str = ""
    #: The level every citizen login asks for (one of ``oidc_acr_levels``; empty: none asked).
    oidc_login_acr: str = ""
    #: Self-service signup: approve verified requests without an operator.
    signup_auto_approve: bool = False
    signup_verify_ttl_s: int = 48 * 3600
    #: Signups submitted per client address in ``signup_rate_window_s``.
    signup_rate_limit: int = 5
    #: Verification and status-link requests per client address in the same window.
    signup_link_rate_limit: int = 60
    signup_rate_window_s: int = 3600
    #: Version of the terms of service the signup form asks the LAO to accept.
    terms_version: str = "2026-11"
    #: A closed tenant's schema is dropped this many days after closing (its export archive stays).
    closed_retention_days: int = 90
    #: Where export archives are written. Empty: ``<data_dir>/exports``.
    export_dir: str = ""
    #: Where uploaded files (attachments) are kept: ``filesystem`` (under ``storage_dir``) or ``s3``
    #: (any S3-compatible store, path-style addressing, AWS Signature V4).
    storage_backend: Literal["filesystem", "s3"] = "filesystem"
    #: The filesystem store's folder. Empty: ``<data_dir>/files``. API and worker must see the same one.
    storage_dir: str = ""
    #: The S3-compatible store: ``https://s3.ap-southeast-1.amazonaws.com``, ``http://127.0.0.1:9000``.
    storage_s3_endpoint: str = ""
    storage_s3_region: str = "us-east-1"
    storage_s3_bucket: str = ""
    storage_s3_access_key_id: str = ""
    storage_s3_secret_access_key: str = ""
    #: A key prefix inside the bucket (empty, or ending in ``/``: ``localgov/``).
    storage_s3_prefix: str = ""
    storage_s3_timeout_s: float = 30.0
    #: Outbound calls to addresses others chose (webhooks, ``kernel.egress``) may reach loopback
    #: (127.0.0.0/8, ::1): development and tests only, refused in production.
    egress_allow_loopback: bool = False
    #: The whole of one outbound call (resolution, connection, request, response), in seconds.
    egress_timeout_s: float = 10.0
    #: Attempts of one webhook delivery before it is given up (``failed``; replayable).
    webhook_max_attempts: int = 8
    #: The first retry's delay; each next one is four times longer (5 s: 5 s, 20 s, 80 s … 5.7 h).
    webhook_retry_base_s: float = 5.0

    def __post_init__(self) -> None:
        if self.database_url and not self.database_url.startswith(
            ("postgresql://", "postgres://", "postgresql+asyncpg://")
        ):
            raise SettingsError("LOCALGOV_DATABASE_URL must be a postgresql:// URL")
        if not _DOMAIN_RE.match(self.base_domain):
            raise SettingsError(f"LOCALGOV_BASE_DOMAIN is not a valid lower-case domain: {self.base_domain!r}")
        for name in ("db_pool_size", "db_connection_lifetime_s", "db_max_tenants_per_connection"):
            if getattr(self, name) < 1:
                raise SettingsError(f"LOCALGOV_{name.upper()} must be at least 1")
        if not 0 <= self.billing_suspend_after_days <= 3650:
            raise SettingsError("LOCALGOV_BILLING_SUSPEND_AFTER_DAYS must be between 0 (never) and 3650")
        if not 0 <= self.db_tenant_wait_ms <= 60_000:
            raise SettingsError("LOCALGOV_DB_TENANT_WAIT_MS must be between 0 (the pool's timeout) and 60000")
        if not 0 <= self.db_connections_per_tenant <= 1000:
            raise SettingsError("LOCALGOV_DB_CONNECTIONS_PER_TENANT must be between 0 (any) and 1000")
        if not 0 <= self.db_plans_per_tenant <= 100_000:
            raise SettingsError("LOCALGOV_DB_PLANS_PER_TENANT must be between 0 (off) and 100000")
        if self.db_statement_timeout_ms < 0 or self.db_lock_timeout_ms < 0:
            raise SettingsError("LOCALGOV_DB_STATEMENT_TIMEOUT_MS and LOCALGOV_DB_LOCK_TIMEOUT_MS must be >= 0")
        if not 50 <= self.ready_write_timeout_ms <= 60_000:
            raise SettingsError("LOCALGOV_READY_WRITE_TIMEOUT_MS must be between 50 and 60000")
        if self.db_max_overflow < 0 or self.migrate_processes < 0:
            raise SettingsError("LOCALGOV_DB_MAX_OVERFLOW and LOCALGOV_MIGRATE_PROCESSES must be >= 0")
        if self.secret_key and len(self.secret_key) < 32:
            raise SettingsError("LOCALGOV_SECRET_KEY must have at least 32 characters")
        if self.env == "production" and not self.secret_key:
            raise SettingsError("LOCALGOV_SECRET_KEY is required in production")
        if not 30 <= self.access_token_ttl_s <= 3600:
            raise SettingsError("LOCALGOV_ACCESS_TOKEN_TTL_S must be between 30 and 3600")
        if self.key_publish_s <= self.key_refresh_s:
            raise SettingsError("LOCALGOV_KEY_PUBLISH_S must exceed LOCALGOV_KEY_REFRESH_S")
        if self.closed_retention_days < 0 or self.signup_rate_limit < 1 or self.signup_verify_ttl_s < 60:
            raise SettingsError(
                "LOCALGOV_CLOSED_RETENTION_DAYS must be >= 0, LOCALGOV_SIGNUP_RATE_LIMIT >= 1"
                " and LOCALGOV_SIGNUP_VERIFY_TTL_S >= 60"
            )
        if self.outbox_max_attempts < 1 or self.worker_batch_size < 1:
            raise SettingsError("LOCALGOV_OUTBOX_MAX_ATTEMPTS and LOCALGOV_WORKER_BATCH_SIZE must be >= 1")
        if self.trust_forwarded_for:
            raise SettingsError(
                "LOCALGOV_TRUST_FORWARDED_FOR is replaced by LOCALGOV_TRUSTED_PROXIES: list the addresses"
                " or CIDRs of the proxies whose X-Forwarded-For is believed (e.g. 10.0.0.0/8)"
            )
        try:
            trusted_networks(self.trusted_proxies)
        except ValueError as exc:
            raise SettingsError(f"LOCALGOV_TRUSTED_PROXIES: {exc}") from None
        if self.storage_backend == "s3":
            self._check_s3()
        if self.env == "production" and self.egress_allow_loopback:
            raise SettingsError("LOCALGOV_EGRESS_ALLOW_LOOPBACK is refused in production")
        if not 0.5 <= self.egress_timeout_s <= 60:
            raise SettingsError("LOCALGOV_EGRESS_TIMEOUT_S must be between 0.5 and 60")
        if not 1 <= self.webhook_max_attempts <= 20 or not 0 < self.webhook_retry_base_s <= 3600:
            raise SettingsError(
                "LOCALGOV_WEBHOOK_MAX_ATTEMPTS must be 1-20 and LOCALGOV_WEBHOOK_RETRY_BASE_S in (0, 3600]"
            )

    def _check_s3(self) -> None:
        if not _S3_ENDPOINT_RE.match(self.storage_s3_endpoint):
            raise SettingsError(
                "LOCALGOV_STORAGE_S3_ENDPOINT must be http(s)://host[:port] when LOCALGOV_STORAGE_BACKEND=s3"
            )
        if not _S3_BUCKET_RE.match(self.storage_s3_bucket) or ".." in self.storage_s3_bucket:
            raise SettingsError(f"LOCALGOV_STORAGE_S3_BUCKET is not a valid bucket name: {self.storage_s3_bucket!r}")
        if not _S3_REGION_RE.match(self.storage_s3_region):
            raise SettingsError(f"LOCALGOV_STORAGE_S3_REGION is not a region name: {self.storage_s3_region!r}")
        if not self.storage_s3_access_key_id or not self.storage_s3_secret_access_key:
            raise SettingsError(
                "LOCALGOV_STORAGE_S3_ACCESS_KEY_ID and LOCALGOV_STORAGE_S3_SECRET_ACCESS_KEY are required for s3"
            )
        if not _S3_PREFIX_RE.match(self.storage_s3_prefix) or {".", ".."} & set(self.storage_s3_prefix.split("/")):
            raise SettingsError("LOCALGOV_STORAGE_S3_PREFIX must be empty or path segments ending in '/'")
        if self.storage_s3_timeout_s <= 0:
            raise SettingsError("LOCALGOV_STORAGE_S3_TIMEOUT_S must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``LOCALGOV_*`` variables (unknown ones are an error)."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        fields = set(cls.__struct_fields__)
        for key, value in env.items():
            if not key.startswith(PREFIX) or key.startswith(("LOCALGOV_TEST_", "LOCALGOV_BENCH_")):
                continue
            name = key[len(PREFIX) :].lower()
            if name not in fields:
                raise SettingsError(f"unknown setting {key}")
            raw[name] = value
        raw.update(overrides)
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid configuration: {exc}") from exc

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def export_path(self) -> Path:
        return Path(self.export_dir).resolve() if self.export_dir else self.data_path / "exports"

    @property
    def storage_path(self) -> Path:
        """The filesystem store's folder (``LOCALGOV_STORAGE_DIR`` or ``<data dir>/files``)."""
        return Path(self.storage_dir).resolve() if self.storage_dir else self.data_path / "files"

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """``LOCALGOV_TRUSTED_PROXIES`` parsed (once per distinct value)."""
        return trusted_networks(self.trusted_proxies)

    def public_url(self, path: str, *, slug: str | None = None) -> str:
        """A link for people (e-mails): ``<scheme>://[<slug>.]<base domain>[:port]<path>``."""
        port = f":{self.public_url_port}" if self.public_url_port else ""
        host = f"{slug}.{self.base_domain}" if slug else self.base_domain
        return f"{self.public_url_scheme}://{host}{port}{path}"

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict safe to log: the password of the database URL is masked."""
        out = msgspec.structs.asdict(self)
        out["secret_key"] = "***" if self.secret_key else ""
        out["storage_s3_secret_access_key"] = "***" if self.storage_s3_secret_access_key else ""
        out["database_url"] = re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.database_url)
        return out
