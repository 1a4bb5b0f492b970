"""The audit trail: who did what, when, to which thing; written once, never changed."""
