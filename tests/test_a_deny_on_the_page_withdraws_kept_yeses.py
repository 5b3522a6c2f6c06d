"""A Deny on the approval page withdraws the yeses kept for the chats it showed, whenever it is clicked: also
after the call stopped waiting (CLIQ_APPROVAL_WAIT), and on a page a URL-elicitation host opened (its "accept"
means only that the page was opened). An attack found that such a Deny left the kept yes standing, and the next
call closed those chats unasked (README: "a no about a chat ... withdraws its kept yes")."""

from __future__ import annotations

import html
import re
import stat
from pathlib import Path

import httpx
import pytest
from conftest import Cliq, approve_with, audit_lines, guarded, text, writes
from mcp import Client
from simulated_cliq import Fault, Workspace

THROTTLED_BODY = {"code": "rate_limit_exceeded", "message": "Rate limit exceeded."}


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    record = tmp_path / "opened-url"
    script = tmp_path / "desktop-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{record}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("BROWSER", str(script))
    return record


def leads_to(record: Path) -> str:
    link = record.read_text()
    found = re.search(r'href="([^"]+)"', Path(link.removeprefix("file://")).read_text())
    assert found, link
    record.unlink()
    return html.unescape(found.group(1))


async def deny_with(person: httpx.AsyncClient, url: str) -> str:
    page = await person.get(url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf
    origin = "/".join(url.split("/", 3)[:3])
    done = await person.post(url, data={"csrf": csrf.group(1), "decision": "deny"}, headers={"Origin": origin})
    assert done.status_code == 200
    return page.text


def closed(workspace: Workspace) -> list[str]:
    return [
        w.path.rsplit("/", 1)[-1]
        for w in writes(workspace)
        if w.method == "PUT" and w.json == {"operation": "close_chat"}
    ]


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_a_deny_on_the_page_after_the_wait_withdraws_the_kept_yes(
    cliq: Cliq, tmp_path: Path, workspace: Workspace, desktop: Path, era: str
) -> None:
    settings = guarded(cliq, tmp_path, CLIQ_APPROVAL_WAIT="0.2")
    async with Client(cliq.server(settings), mode=era) as client, httpx.AsyncClient() as person:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 8})
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        assert len(ids) == 8
        # 1. The person approves closing 8 chats; Cliq throttles the 4th: 4..7 approved and not sent (kept yes).
        first = await client.call_tool("close_chats", {"chat_ids": ids})
        assert "Not done yet: waiting" in text(first), text(first)
        await approve_with(person, leads_to(desktop))
        workspace.inject(
            Fault(
                method="PUT",
                path_prefix=f"/api/v3/chats/{ids[3]}",
                kind="status",
                status=429,
                body=THROTTLED_BODY,
                headers={"Retry-After": "30"},
            )
        )
        acted = await client.call_tool("close_chats", {"chat_ids": ids})
        assert closed(workspace) == ids[:4], text(acted)
        rest = ids[4:8]
        cliq.time.advance(30)
        # 2. The model asks about the same 4 chats plus one more; the page lists all of them. The call stops waiting
        #    (the person takes longer than CLIQ_APPROVAL_WAIT), then the person reads the page and clicks Deny.
        other = next(
            c for c, chat in workspace.chats.items() if c not in ids and not chat.closed and chat.chat_type != "bot"
        )
        asked = await client.call_tool("close_chats", {"chat_ids": [*rest, other]})
        assert "Not done yet: waiting" in text(asked), text(asked)
        shown = await deny_with(person, leads_to(desktop))
        assert all(c in shown for c in rest)  # the person saw those 4 chats and said no
        # 3. Right after, the model closes those 4 chats by id: the kept yes acts, nobody is asked.
        after = await client.call_tool("close_chats", {"chat_ids": rest})
    acted_unasked = [c for c in rest if c in closed(workspace)]
    assert not acted_unasked, (
        f"closed {acted_unasked} right after the person denied closing them on the page: {text(after)!r}; "
        f"audit: {[(line['outcome'], line.get('confirmed_by')) for line in audit_lines(tmp_path)][-3:]}"
    )


@pytest.mark.parametrize("era", ["auto"])  # handshake era: the live call sees the Deny and withdraws
async def test_a_deny_on_a_url_elicited_page_withdraws_the_kept_yes(
    cliq: Cliq, tmp_path: Path, workspace: Workspace, url_only_client: None, era: str
) -> None:
    """The same through a host with URL-mode elicitation only: the person opens the page (the host's "accept" means
    only that they agreed to open it), reads the 4 chats kept from an earlier yes among those listed, and clicks
    Deny. The call says the approval is not open any more (outcome "refused", not "declined"), so the kept yes
    stands, and the next call closes those 4 chats unasked."""
    decisions = iter(["approve", "deny", "deny"])
    shown: list[str] = []

    async def host(context: object, params: object) -> object:
        from mcp.types import ElicitResult

        url = params.url  # type: ignore[attr-defined]
        async with httpx.AsyncClient() as person:
            decision = next(decisions)
            if decision == "approve":
                await approve_with(person, url)
            else:
                shown.append(await deny_with(person, url))
        return ElicitResult(action="accept")

    settings = guarded(cliq, tmp_path)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=host) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 8})
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        workspace.inject(
            Fault(
                method="PUT",
                path_prefix=f"/api/v3/chats/{ids[3]}",
                kind="status",
                status=429,
                body=THROTTLED_BODY,
                headers={"Retry-After": "30"},
            )
        )
        acted = await client.call_tool("close_chats", {"chat_ids": ids})
        assert closed(workspace) == ids[:4], text(acted)
        rest = ids[4:8]
        cliq.time.advance(30)
        other = next(
            c for c, chat in workspace.chats.items() if c not in ids and not chat.closed and chat.chat_type != "bot"
        )
        denied = await client.call_tool("close_chats", {"chat_ids": [*rest, other]})
        assert denied.is_error and all(c in shown[0] for c in rest), text(denied)
        after = await client.call_tool("close_chats", {"chat_ids": rest})
        assert len(shown) == 2 and all(c in shown[1] for c in rest)  # asked again, and the person said no again
    acted_unasked = [c for c in rest if c in closed(workspace)]
    assert not acted_unasked, (
        f"closed {acted_unasked} right after the person denied closing them on the page ({text(denied)!r}): "
        f"{text(after)!r}"
    )
