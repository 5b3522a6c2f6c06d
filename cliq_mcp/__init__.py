"""cliq-mcp: Zoho Cliq chats (REST API v3) as MCP tools."""

__version__ = "0.1.0"
