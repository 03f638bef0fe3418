"""The public services, one package each (registered in :mod:`localgov.plugins`)."""
