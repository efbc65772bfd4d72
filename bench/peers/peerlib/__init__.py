"""Backends and helpers for the side-by-side CKKS peer benchmark (see ../README.md)."""
