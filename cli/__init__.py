"""Typer apps of the `lt` command (only typer and the standard library at module top)."""
