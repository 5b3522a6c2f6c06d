"""OAuth scopes and the rate limits that more than one operation shares (see the catalogue).

A ``RateLimit`` is paced by identity, so requests that Cliq counts together must share one object.
"""

from __future__ import annotations

from cliq_mcp.wire import RateLimit

READ = "ZohoCliq.Chats.READ"
CREATE = "ZohoCliq.Chats.CREATE"
UPDATE = "ZohoCliq.Chats.UPDATE"
DELETE = "ZohoCliq.Chats.DELETE"

LIST_CHATS = RateLimit(30, "10 minutes", READ)  # GET /chats
GET_CHAT = RateLimit(60, "5 minutes", READ)  # GET /chats/{id}
PER_CHAT_PUT = RateLimit(60, "", UPDATE)  # the PUT /chats/{id} operations without a documented lock
BULK_PUT = RateLimit(60, "5 minutes", UPDATE)  # PUT /chats: read status and clear unread
MEMBERSHIP = RateLimit(20, "10 minutes", UPDATE)  # POST /chats/{id}/leave|mute|unmute: "each 20 / min, 10 min lock"
