"""Memos formatted for email, SMS and voice: default formats per locale, overrides sandboxed."""
