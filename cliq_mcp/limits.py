"""OAuth scopes and the rate limits that more than one operation shares (see the catalogue).

A ``RateLimit`` is paced by identity, so requests that Cliq counts together must share one object.
"""

from __future__ import annotations

from cliq_mcp.client import RateLimit

READ = "ZohoCliq.Chats.READ"
CREATE = "ZohoCliq.Chats.CREATE"
UPDATE = "ZohoCliq.Chats.UPDATE"
DELETE = "ZohoCliq.Chats.DELETE"

LIST_CHATS = RateLimit(30, "10 minutes", READ)  # GET /chats
GET_CHAT = RateLimit(60, "5 minutes", READ)  # GET /chats/{id}
PER_CHAT_PUT = RateLimit(60, "", UPDATE)  # PUT /chats/{id}, and the per-chat POSTs without a documented lock
