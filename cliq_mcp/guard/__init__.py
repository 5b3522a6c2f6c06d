"""The guard between the assistant and every write. ``Guard.run`` decides (decide.py); the person is
asked by elicitation (elicit.py) about a question read from Cliq (questions.py); confirmation tokens
and their single use are in tokens.py; every attempt is written to the audit log (audit.py)."""

from cliq_mcp.guard.decide import Guard

__all__ = ["Guard"]
