"""Ingest: reading each publication, normalising it onto the canonical grain, and loading it."""
