"""localgov: digital public services for Thai Local Administrative Organisations (อปท.)."""

__version__ = "0.1.0"
