"""Dagster integration of tdprov."""
