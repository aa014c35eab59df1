"""Operators, sessions, roles and subtree scopes."""
