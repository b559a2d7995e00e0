"""Bulk import of users' provider credentials: `grant-broker import FILE`."""
