"""Comparison of the grants table with Nylas's grant listing: `grant-broker reconcile`."""
