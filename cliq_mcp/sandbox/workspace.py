"""The simulated workspace as it starts: the seed's chats (from the API's own examples) and generated ones."""

from __future__ import annotations

from typing import Any

from .seed import populate
from .state import WorkspaceState


class Workspace(WorkspaceState):
    """``WorkspaceState`` holding the seed's chats plus ``extra_chats`` generated ones."""

    def __init__(self, *, extra_chats: int = 220, **settings: Any) -> None:
        super().__init__(**settings)
        populate(self, extra_chats)
