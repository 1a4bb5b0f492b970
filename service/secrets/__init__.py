"""The secret store: chat credentials admins set write-only, kept encrypted, never shown."""
