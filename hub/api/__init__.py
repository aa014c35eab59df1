"""Shared pieces of the HTTP API: dependencies and common schemas."""
