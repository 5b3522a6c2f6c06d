"""The catalogue's declarations checked against the models and against the simulated Cliq, which was
written separately from the notes: a row that forgets which chats it writes, or a rate limit that differs
from the simulation's, fails here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import EVERY_TOOL
from pydantic import BaseModel

from cliq_mcp.sandbox.throttle import LIMITS
from cliq_mcp.tools.catalogue import BY_NAME, CATALOGUE
from cliq_mcp.tools.row import Effect


def chat_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every field of the model (and of models in its lists) that holds a chat id, as a target spec."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = str(info.annotation)
        if name.endswith("chat_id"):
            found.add(prefix + name)
        elif name.endswith("chat_ids"):
            found.add(prefix + name + "[]")
        for inner in getattr(info.annotation, "__args__", ()):
            if isinstance(inner, type) and issubclass(inner, BaseModel) and "list" in annotation:
                found |= chat_fields(inner, f"{prefix}{name}[].")
    return found


@pytest.mark.parametrize("op", [op for op in CATALOGUE if op.effect is not Effect.READ], ids=lambda op: op.name)
def test_every_write_declares_every_chat_it_names(op: Any) -> None:
    # A write tool whose chat field the row does not declare would pass the guard's allow/deny lists.
    assert set(op.targets) == chat_fields(op.model)


def test_declared_targets_are_read_from_the_request() -> None:
    seen = {}
    for name, args in EVERY_TOOL:
        op = BY_NAME[name]
        if op.effect is not Effect.READ:
            seen[name] = op.target_chats(op.arguments.model_validate(args))
    assert seen["close_chats"] == ["2890538000000067890"]
    assert seen["mark_chats_read"] == ["2890538000000012345"]
    assert seen["clear_unread_counts"] == ["2890538000000012345"]
    assert seen["create_chat"] == []
    assert all(ids for name, ids in seen.items() if name != "create_chat")


# Which of the simulation's throttle rows counts each tool's requests.
SIMULATED = {
    "list_chats": "list_chats", "search_chats": "search_chats", "get_chat": "get_chat",
    "list_chat_members": "list_members", "create_chat": "create_chat", "mark_chats_read": "read_status_update",
    "clear_unread_counts": "clear_unread", "rename_chat": "update_title", "set_chat_history": "update_history_status",
    "mark_chat_read": "mark_as_read", "mark_chat_unread": "mark_as_unread", "add_chat_members": "add_members",
    "fork_chat": "fork_chat", "send_typing_activity": "send_activity", "mute_chat": "mute_chat",
    "unmute_chat": "unmute_chat", "clear_chat_history": "clear_local_history", "close_chat": "close_chat",
    "remove_chat_members": "remove_members", "leave_chat": "leave_chat", "plan_tidy": "list_chats",
    "close_chats": "close_chat", "find_people": "list_users", "preview_policy": "list_chats",
}  # fmt: skip
UNITS = {"second": 1, "minute": 60}


def lock_seconds(lock: str) -> float | None:
    if not lock:
        return None
    number, unit = re.fullmatch(r"(\d+) (second|minute)s?", lock).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


@pytest.mark.parametrize("op", CATALOGUE, ids=lambda op: op.name)
def test_the_catalogues_rate_limits_match_the_simulated_cliq(op: Any) -> None:
    simulated = LIMITS[SIMULATED[op.name]]
    assert (op.rate.per_minute, lock_seconds(op.rate.lock)) == (simulated.per_minute, simulated.lock_seconds)


def test_rows_sharing_a_limit_share_its_key_and_no_two_limits_share_one() -> None:
    # Pacing counts by key across processes: one key per limit object, one limit object per key.
    keys: dict[int, str] = {}
    limits: dict[str, int] = {}
    for op in CATALOGUE:
        assert keys.setdefault(id(op.rate), op.rate.key) == op.rate.key
        assert limits.setdefault(op.rate.key, id(op.rate)) == id(op.rate), f"{op.name}: {op.rate.key} is taken"
    assert BY_NAME["mute_chat"].rate.key == BY_NAME["leave_chat"].rate.key == "membership"
    assert BY_NAME["list_chats"].rate.key == BY_NAME["plan_tidy"].rate.key == "list_chats"
    assert BY_NAME["close_chat"].rate.key == BY_NAME["close_chats"].rate.key == "per_chat_put"
    assert len(keys) == len(limits) > 10
