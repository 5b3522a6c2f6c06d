"""Asking on the approval page, for clients without form elicitation (Claude Desktop today).

The page's URL is a one-time secret: it must reach the person without passing through the model. So it
goes out only as a URL elicitation (which the client opens after the person agrees, out of the model's
sight) or is opened by this process in the person's browser (``webbrowser``, so ``$BROWSER`` chooses).
It never appears in a tool result or a log line. Where neither works, nothing is asked and nothing acted.

Handshake era: ``ctx.elicit_url`` on the live session, then the call waits for the page. 2026-07-28: the
first round returns an ``InputRequiredResult`` carrying the URL and, in the sealed ``request_state``, the
approval's id; the retry finds the approval by that id and waits for the page. Either way the call waits
(progress notifications keep it alive) until the person clicks, the wait ends, or the call is cancelled;
the page then says the question has closed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.types import ElicitRequest, ElicitRequestURLParams, InputRequiredResult

from cliq_mcp.core.errors import NotConfirmed
from cliq_mcp.guard.approval import Approval, Approvals
from cliq_mcp.guard.questions import Question

SERVER_NAME = "cliq-mcp"


def _digest(tool: str, question: Question) -> str:
    """The same call about the same target: the same digest (and so the same open page)."""
    return hashlib.sha256(f"{tool}\n{question.full}".encode()).hexdigest()


KEEPALIVE_S = 10.0  # a progress notification this often while the person decides
Opener = Callable[[str], Awaitable[bool]]  # show a URL to the person; False if no browser could be started


def ways_forward(command: str) -> str:
    """What a person can do where nobody can be asked: ``command`` is this very call for ``cliq-mcp call``."""
    return (
        "Ways forward, for the person (not settings an assistant may change): a client that asks the person "
        "(Claude Code, VS Code, MCP Inspector); running cliq-mcp where it can open a browser for its approval "
        f"page; at a terminal, `{command}`, which asks there; for pipelines CLIQ_GUARD=unattended with "
        "CLIQ_UNATTENDED_CHATS; or, only if the MCP host asks the person before every single tool call, "
        "CLIQ_GUARD=trust-host."
    )


def can_elicit_url(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    if elicitation is None or elicitation.url is None:
        return False
    version = ctx.protocol_version
    return (version is not None and version >= "2026-07-28") or ctx.session.can_send_request


class PageFlow:
    """The page's questions and answers live with ``approvals`` (in the account's state store when there is
    one): the round that opens a page, the one that waits on it and the page itself may be served by different
    processes or replicas."""

    def __init__(self, approvals: Approvals, opener: Opener | None, *, ttl_s: float, timeout_s: float) -> None:
        self.approvals = approvals
        self._opener = opener  # None: this process cannot show the person a page (HTTP: it may be remote)
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s

    def possible(self, ctx: Context[Any, Any]) -> bool:
        return can_elicit_url(ctx) or self._opener is not None

    async def ask(
        self, tool: str, question: Question, ctx: Context[Any, Any], command: str = "", withdraw: Sequence[str] = ()
    ) -> InputRequiredResult | float:
        """Once the person approved on the page, how long ago it was shown (the question is as old as the page);
        an ``InputRequiredResult`` to return (2026-07-28, first round); otherwise ``NotConfirmed``. ``withdraw``:
        the yeses kept for what the question shows, used up by a Deny on the page (even one clicked after this
        call stopped waiting)."""
        modern = (ctx.protocol_version or "") >= "2026-07-28"
        if modern and ctx.request_state is not None:
            return await self._second_round(tool, question, ctx)
        asked = _digest(tool, question)
        still = await self.approvals.waiting_for(asked)
        if still is not None:  # this very question's page is open in the person's browser: wait on it again
            async with still.kept_or_closed() as keep:
                return await self._wait(tool, still, ctx, asked, keep)
        approval = await self.approvals.open(SERVER_NAME, question, self._ttl_s, withdraw=withdraw)
        message = f"cliq-mcp asks you to approve or deny this on a page in your browser: {question.sentence}"
        if can_elicit_url(ctx) and modern:  # the page stays open between the rounds (in the store)
            request = ElicitRequest(
                method="elicitation/create",
                params=ElicitRequestURLParams(mode="url", message=message, url=approval.url),
            )
            state = json.dumps({"approval": approval.id})  # sealed by the SDK: the client cannot change it
            return InputRequiredResult(input_requests={"approve": request}, request_state=state)
        async with approval.kept_or_closed() as keep:  # closed on the way out, unless left open for the next call
            if can_elicit_url(ctx):
                try:  # its own id: the URL's secret part is not something a host may show or log
                    answer = await ctx.elicit_url(message, approval.url, secrets.token_urlsafe(12))
                except Exception:  # whatever the host said may quote the URL: say nothing of it
                    raise NotConfirmed("Not done: the client could not show the approval page. Nothing was changed.",
                                       "Try again, or do it in Cliq.") from None  # fmt: skip
                if answer.action != "accept":
                    raise NotConfirmed(f"Not done: the person chose {answer.action}. Nothing was changed.", "",
                                       outcome="declined")  # fmt: skip
            elif self._opener is None or not await self._opener(approval.url):
                raise NotConfirmed(
                    "Not done: this needs a person's yes, and nobody can be asked here: this client cannot show a "
                    "confirmation (no MCP elicitation) and no browser could be opened for the approval page. "
                    "Nothing was changed.",
                    ways_forward(command or f"cliq-mcp call {tool} '<arguments>'"),
                )
            return await self._wait(tool, approval, ctx, asked, keep)

    async def _second_round(self, tool: str, question: Question, ctx: Context[Any, Any]) -> float:
        try:
            approval_id = json.loads(ctx.request_state or "")["approval"]
        except (ValueError, KeyError, TypeError):
            approval_id = None
        approval = await self.approvals.find(approval_id) if isinstance(approval_id, str) else None
        if approval is None or await approval.outcome() not in (None, "approved"):
            raise NotConfirmed(
                "Not done: that approval is not open any more (already answered, expired, or closed). Nothing was "
                "changed.",
                f"Call {tool} again to ask the person again.",
            )
        async with approval.kept_or_closed() as keep:
            if question.full != approval.question.full:  # the page showed the chat as it was then: not a yes to this
                raise NotConfirmed(
                    "Not done: the chat changed after the approval page was shown. Nothing was changed.",
                    f"Call {tool} again to ask about it as it is now.",
                )
            answer = (ctx.input_responses or {}).get("approve")
            action = getattr(answer, "action", None)
            if action != "accept":
                raise NotConfirmed(f"Not done: the person chose {action or 'not to answer'}. Nothing was changed.",
                                   "", outcome="declined")  # fmt: skip
            return await self._wait(tool, approval, ctx, _digest(tool, question), keep)

    async def _wait(
        self,
        tool: str,
        approval: Approval,
        ctx: Context[Any, Any],
        asked: str,
        keep: Callable[[], None] = lambda: None,
    ) -> float:
        """Wait for the person's click, at most CLIQ_APPROVAL_WAIT (45 s: inside the usual 60 s request timeout
        of MCP clients); if they have not clicked by then, the page stays open and the call says so: the same
        call made again waits on it (``asked``). Nothing but the click acts, and it acts once."""
        async with anyio.create_task_group() as keepalive:

            async def tick() -> None:
                beats = 0
                while True:
                    await anyio.sleep(KEEPALIVE_S)
                    beats += 1
                    await ctx.report_progress(beats, None, "Waiting for the person's answer on the approval page")

            keepalive.start_soon(tick)
            outcome = await approval.wait(self._timeout_s, keep_open=True)
            keepalive.cancel_scope.cancel()
        if outcome is None:  # not answered yet, and the page has time left
            keep()
            await self.approvals.remember(asked, approval)
            raise NotConfirmed(
                "Not done yet: waiting for the person's answer on the approval page in their browser (it stays open "
                f"for up to {int(self._ttl_s)} s). Nothing was changed.",
                f"Tell the person, then call {tool} again with the same arguments to keep waiting: only their click "
                "on the page can approve it.",
                outcome="waiting",
            )
        if outcome == "denied":
            raise NotConfirmed("Not done: the person denied it on the approval page. Nothing was changed.", "",
                               outcome="declined")  # fmt: skip
        shown_ago = await approval.take() if outcome == "approved" else None
        if outcome == "taken" or (outcome == "approved" and shown_ago is None):
            # another call waiting on the same page acted on this yes already: it acts once
            raise NotConfirmed("Not done: that approval was already acted on by another call. Nothing more was "
                               "changed.", "", outcome="declined")  # fmt: skip
        if outcome != "approved":
            raise NotConfirmed("Not done: nobody answered on the approval page in time. Nothing was changed.",
                               f"Call {tool} again to ask again.", outcome="declined")  # fmt: skip
        assert shown_ago is not None
        return shown_ago  # the question's time is when the page was shown, read as it was taken
