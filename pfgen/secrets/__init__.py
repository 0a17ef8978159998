"""Credentials: which Secret each credential_id names (credentials), Secret specs (specs), Sealed Secrets (seal)."""
