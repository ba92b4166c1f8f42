"""Executions: one run of a workflow for one occurrence of a booking, and its forward-only lifecycle."""
