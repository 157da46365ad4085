"""Benchmark of the approvals bot: see README.md."""
