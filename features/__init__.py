"""Canonical tables -> NATO roll-call catalog, bill registry and point-in-time features."""
