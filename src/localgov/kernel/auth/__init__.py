"""Authentication and authorization shared by every service: signing keys, tokens, guards."""
