"""A simulated Zoho Cliq REST API v3 workspace (chats only), served as an ASGI app.

Written from the API notes and the seed examples, never from the client: this package imports nothing
else from ``cliq_mcp``, so a wrong field name in the client cannot agree with itself.
"""

from .app import create_app
from .seed import CONTROL_CHARS_CHAT_ID, PROMPT_INJECTION_CHAT_ID, PROMPT_INJECTION_TEXT
from .server import serve
from .state import ME, Chat, Message, User
from .tokens import ALL_SCOPES
from .workspace import Workspace

__all__ = [
    "ALL_SCOPES",
    "CONTROL_CHARS_CHAT_ID",
    "ME",
    "PROMPT_INJECTION_CHAT_ID",
    "PROMPT_INJECTION_TEXT",
    "Chat",
    "Message",
    "User",
    "Workspace",
    "create_app",
    "serve",
]
