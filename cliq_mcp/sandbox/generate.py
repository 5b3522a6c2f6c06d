"""Generated chats: a deterministic mix of direct chats, groups, channels and threads."""

from __future__ import annotations

import random

from .state import ME, Chat, Message, WorkspaceState

_TOPICS = [
    "Apollo",
    "Billing",
    "Onboarding",
    "Mobile",
    "Q3 Planning",
    "Security",
    "Data Platform",
    "Support",
    "Hiring",
    "Pricing",
    "Website",
    "Analytics",
    "Partners",
    "Release",
    "Infra",
    "Design System",
    "Roadmap",
    "Offsite",
    "Compliance",
    "Growth",
]
_SUFFIXES = ("Team", "Sync", "Crew", "Working Group", "Standup", "Review", "Squad", "Updates", "Taskforce")
_TEXTS = (
    "Morning! Any blockers today?",
    "I pushed the fix, can you take a look?",
    "Let's move the meeting to 3pm.",
    "Sharing the latest numbers in a minute.",
    "Thanks, that works for me.",
    "Who owns the follow-up on this?",
    "The build is green again.",
    "Please review the doc before Friday.",
    "Customer call went well \U0001f389",
    "Can we close this out this week?",
    "Reminder: retro tomorrow at 10.",
    "I'll be out on Monday.",
    "Added notes from the call.",
    "Looks good to me, ship it.",
    "Escalating this to the vendor.",
)
# Generated chats were last active in the eighteen months before 2025, so the seed's chats (all active
# in 2025 or later) lead the recents list.
_START_MS = 1688169600000  # 2023-07-01T00:00:00Z
_SPAN_MS = 549 * 86_400_000  # up to 2024-12-31


def generate_chats(ws: WorkspaceState, rng: random.Random, count: int, *, keep_free: int) -> None:
    """Add ``count`` chats; the last ``keep_free`` users get no direct chat."""
    others = [uid for uid in ws.users if uid != ME]
    partners = [uid for uid in others[: len(others) - keep_free] if ws.direct_chat_with(uid) is None]
    rng.shuffle(partners)
    used_times = {c.modified_ms for c in ws.chats.values()}
    parents: list[Chat] = []
    for _ in range(count):
        roll = rng.random()
        kind = "group_chat"
        if roll < 0.35 and partners:
            kind = "direct_message"
        elif 0.70 <= roll < 0.85:
            kind = "channel"
        elif roll >= 0.85 and parents:
            kind = "thread"
        modified = _START_MS + rng.randrange(_SPAN_MS)
        while modified in used_times:
            modified += 1
        used_times.add(modified)
        created = modified - rng.randrange(400 * 86_400_000)
        parent: Chat | None = None
        if kind == "direct_message":
            partner = partners.pop()
            members, name, creator = [ME, partner], ws.user_name(partner), rng.choice([ME, partner])
        elif kind == "thread":
            parent = rng.choice(parents)
            pool = [uid for uid in parent.members if uid != ME]
            members = [ME, *rng.sample(pool, min(len(pool), rng.randint(1, 5)))]
            name, creator = f"Re: {rng.choice(_TEXTS)}", rng.choice(members)
        else:
            size = rng.randint(2, 8) if kind == "group_chat" else rng.randint(5, 30)
            members = [ME, *rng.sample(others, size)]
            name = f"{rng.choice(_TOPICS)} {rng.choice(_SUFFIXES)}"
            creator = rng.choice(members)
        chat = ws.add_chat(
            Chat(
                ws.new_chat_id(),
                name,
                kind,
                creator,
                created,
                modified,
                members,
                tz_minutes=rng.choice((0, 0, 0, 330, -420, 60, 540)),
                pinned=rng.random() < 0.10,
                muted=rng.random() < 0.12,
                closed=rng.random() < 0.05,
                draft=rng.random() < 0.08,
                open_channel=kind == "channel" and rng.random() < 0.5,
                usage=rng.randrange(250),
                parent_chat_id=parent.chat_id if parent else None,
            )
        )
        chat.messages = _messages(ws, rng, chat)
        if not chat.messages:
            # Zoho's document: last_modified_time is when the last message was sent. assumption: a chat without
            # messages keeps its creation time there.
            chat.modified_ms = chat.created_ms
        if chat.messages and rng.random() < 0.4:
            chat.unread = rng.randint(1, len(chat.messages))
        if kind in ("group_chat", "channel"):
            parents.append(chat)


def _messages(ws: WorkspaceState, rng: random.Random, chat: Chat) -> list[Message]:
    count = rng.choice((0, 1, 2, 3, 3, 4, 5)) if chat.chat_type == "group_chat" else rng.randint(1, 5)
    earliest = chat.created_ms + 1
    times = sorted({max(earliest, chat.modified_ms - rng.randrange(1, 3 * 86_400_000)) for _ in range(count - 1)})
    if count:
        times.append(chat.modified_ms)
    return [Message(ws.new_message_id(t), rng.choice(chat.members), t, rng.choice(_TEXTS)) for t in times]
