"""Identities: who is calling. Password checks, the token service, the auth modes."""
