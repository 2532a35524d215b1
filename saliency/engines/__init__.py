"""Engines run a network forward and back: torch, numpy (BPTT by hand), a user's torch module."""
