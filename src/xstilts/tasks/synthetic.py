"""Synthetic benchmark tasks (placeholder; the lead's module replaces this file)."""
