"""Serving the tools over MCP: the server, its HTTP app, prompts, and calling a tool without an LLM."""
