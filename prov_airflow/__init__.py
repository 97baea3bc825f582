"""Airflow integration of tdprov."""
