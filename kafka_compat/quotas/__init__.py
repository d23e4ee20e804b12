"""Quotas: client quotas (produce/fetch byte rates, request percentage) and
connection limits (connection_quotas.py)."""
