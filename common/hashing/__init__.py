"""Canonical content hashing of tables and files."""
