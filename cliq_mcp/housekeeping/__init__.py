"""Housekeeping by policy: the policy file, and planning a tidy-up against it."""
