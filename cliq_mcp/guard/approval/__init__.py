"""Approval on a web page, for clients without form elicitation: ``Approvals`` serves one-time pages
(web.py, HTML in page.py); ``open_in_browser`` shows one to the person (browser.py). No MCP here."""

from cliq_mcp.guard.approval.browser import open_in_browser
from cliq_mcp.guard.approval.web import DEFAULT_TIMEOUT_S, Approval, Approvals, Outcome

__all__ = ["DEFAULT_TIMEOUT_S", "Approval", "Approvals", "Outcome", "open_in_browser"]
