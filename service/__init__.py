"""Relay: the back office of a telephone-answering service."""
