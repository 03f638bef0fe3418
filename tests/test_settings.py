from __future__ import annotations

import pytest

from localgov.settings import Settings, SettingsError


def test_from_env_reads_prefixed_variables_only() -> None:
    settings = Settings.from_env(
        {
            "LOCALGOV_DATABASE_URL": "postgresql://app:s3cret@db:5432/localgov",
            "LOCALGOV_BASE_DOMAIN": "localgov.go.th",
            "LOCALGOV_DB_POOL_SIZE": "20",
            "LOCALGOV_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
            "LOCALGOV_TEST_DATABASE_URL": "ignored: belongs to the test suite",
            "LOCALGOV_BENCH_TENANTS": "ignored: belongs to the benchmarks",
            "PATH": "/usr/bin",
        }
    )
    assert settings.base_domain == "localgov.go.th"
    assert settings.db_pool_size == 20
    assert [str(n) for n in settings.trusted_proxy_networks] == ["10.0.0.0/8", "192.0.2.7/32"]
    assert not settings.embedded_database
    assert "s3cret" not in str(settings.redacted())
    assert settings.redacted()["database_url"] == "postgresql://app:***@db:5432/localgov"


def test_defaults_are_development_on_embedded_database() -> None:
    settings = Settings.from_env({})
    assert settings.embedded_database
    assert settings.base_domain == "localhost"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOCALGOV_DATABSE_URL": "postgresql://x"}, "unknown setting LOCALGOV_DATABSE_URL"),
        ({"LOCALGOV_DATABASE_URL": "mysql://x"}, "postgresql://"),
        ({"LOCALGOV_BASE_DOMAIN": "Local_Gov"}, "BASE_DOMAIN"),
        ({"LOCALGOV_DB_POOL_SIZE": "many"}, "invalid configuration"),
        ({"LOCALGOV_TRUST_FORWARDED_FOR": "true"}, "replaced by LOCALGOV_TRUSTED_PROXIES"),
        ({"LOCALGOV_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "not an IP address or CIDR"),
        ({"LOCALGOV_DB_LOCK_TIMEOUT_MS": "-1"}, "LOCK_TIMEOUT_MS"),
        ({"LOCALGOV_READY_WRITE_TIMEOUT_MS": "0"}, "READY_WRITE_TIMEOUT_MS"),
        ({"LOCALGOV_DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"LOCALGOV_LOG_LEVEL": "LOUD"}, "invalid configuration"),
    ],
)
def test_invalid_environment_is_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
