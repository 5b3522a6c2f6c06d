"""OAuth scopes and the rate limits that more than one operation shares (see the catalogue).

A ``RateLimit`` is paced by its ``key`` (in the state store, so across processes): requests that Cliq
counts together share one limit, and every limit has a key of its own (tests/test_catalogue.py checks).
"""

from __future__ import annotations

from cliq_mcp.cliq.wire import RateLimit

READ = "ZohoCliq.Chats.READ"
CREATE = "ZohoCliq.Chats.CREATE"
UPDATE = "ZohoCliq.Chats.UPDATE"
DELETE = "ZohoCliq.Chats.DELETE"

LIST_CHATS = RateLimit("list_chats", 30, "10 minutes", READ)  # GET /chats
GET_CHAT = RateLimit("get_chat", 60, "5 minutes", READ)  # GET /chats/{id}
# The PUT /chats/{id} operations without a documented lock.
PER_CHAT_PUT = RateLimit("per_chat_put", 60, "", UPDATE)
BULK_PUT = RateLimit("bulk_put", 60, "5 minutes", UPDATE)  # PUT /chats: read status and clear unread
# POST /chats/{id}/leave|mute|unmute: "each 20 / min, 10 min lock".
MEMBERSHIP = RateLimit("membership", 20, "10 minutes", UPDATE)
