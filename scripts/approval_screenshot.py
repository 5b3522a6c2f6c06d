"""Regenerate docs/approval-page.png: the approval page for closing three chats, in headless Chromium:
``.venv/bin/python scripts/approval_screenshot.py [output.png]``."""

from __future__ import annotations

import sys

import anyio
from playwright.async_api import async_playwright

from cliq_mcp.core.text import quoted
from cliq_mcp.guard.approval import DEFAULT_TIMEOUT_S, Approvals
from cliq_mcp.guard.questions import Question

QUESTION = Question(
    "Close 3 chats? They will be hidden from your recent chats.",
    (
        f"- {quoted('Design sync (old)')} · group chat · 2890538000000067890 · last active 2025-01-14",
        f"- {quoted('Launch war room')} · channel · 2890538000000055555 · last active 2024-11-02 · muted",
        f"- {quoted('Alice Smith')} · direct message · 2890538000000012345 · last active 2025-02-03 · pinned",
    ),
)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


async def main(output: str) -> None:
    async with Approvals() as approvals, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        with await approvals.open("cliq-mcp", QUESTION, ttl_s=DEFAULT_TIMEOUT_S) as approval:
            page = await browser.new_page(viewport={"width": 900, "height": 560}, device_scale_factor=2)
            await page.goto(approval.url)
            await page.screenshot(path=output, full_page=True)
        await browser.close()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "docs/approval-page.png")
