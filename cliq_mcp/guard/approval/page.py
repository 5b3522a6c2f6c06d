"""The approval page's HTML: plain forms, inline CSS, no script, every inserted text escaped.

Question lines arrive cleaned by ``core.text.clean``; they are cleaned and escaped again here, because a chat
name is written by someone else and a page must not depend on every caller remembering that.
"""

from __future__ import annotations

import json
from html import escape

from cliq_mcp.core.text import clean

LINE_LIMIT = 1000

STYLE = """
body{margin:0;background:#f3f4f6;color:#111827;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:44rem;margin:3rem auto;padding:2rem 2.25rem;background:#fff;border:1px solid #e5e7eb;
border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.who{margin:0 0 1.25rem;color:#4b5563;font-size:.95rem}
.who b{color:#111827;font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
h1{margin:0 0 1rem;font-size:1.25rem;line-height:1.4}
ul{margin:0 0 1.25rem;padding:.5rem 0;list-style:none;border:1px solid #e5e7eb;border-radius:8px;
max-height:50vh;overflow:auto;background:#f9fafb}
li{padding:.45rem 1rem;unicode-bidi:isolate;overflow-wrap:break-word}
.what{font-weight:600}
.details{color:#4b5563;font-size:.9rem}
li+li{border-top:1px solid #eef0f3}
.buttons{display:flex;gap:.75rem;margin:1.5rem 0 1rem}
button{font:inherit;font-weight:600;padding:.6rem 1.6rem;border-radius:8px;cursor:pointer;border:1px solid}
.approve{background:#15803d;border-color:#15803d;color:#fff}
.deny{background:#fff;border-color:#9ca3af;color:#111827}
.note{margin:0;color:#4b5563;font-size:.9rem}
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        # The header says no-referrer for every response; the page's own form needs its Origin sent, which
        # a no-referrer document would replace by "null". same-origin sends it only back to this server.
        '<meta name="referrer" content="same-origin">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _who(server_name: str) -> str:
    return f'<p class="who">A request from <b>{escape(clean(server_name, 80))}</b>, the Zoho Cliq connector</p>'


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{round(seconds / 60)} minutes"
    if seconds >= 60:
        return "1 minute"
    whole = max(1, round(seconds))
    return f"{whole} second{'s' if whole != 1 else ''}"


def _item(line: str) -> str:
    # A batch line is `- "name" · type · id · last active …`: the name first, the details after it, smaller.
    # The name is a JSON string (text.quoted), so its end is found by decoding it, never by looking for
    # " · ", which a name written by someone else may contain to pass itself off as details.
    body = clean(line.removeprefix("- "), LINE_LIMIT)
    try:
        _, end = json.JSONDecoder().raw_decode(body)
    except ValueError:
        end = len(body)
    what, details = body[:end], body[end:].removeprefix(" · ")
    rest = f' <span class="details">· {escape(details)}</span>' if details else ""
    return f'<li><span class="what">{escape(what)}</span>{rest}</li>'


def question_page(server_name: str, sentence: str, lines: tuple[str, ...], csrf: str, ttl_s: float) -> str:
    """The page that asks: who asks, what exactly, Approve and Deny, and what silence means."""
    items = "".join(_item(line) for line in lines)
    body = (
        _who(server_name)
        + f"<h1>{escape(clean(sentence, LINE_LIMIT))}</h1>"
        + (f"<ul>{items}</ul>" if items else "")
        + '<form method="post">'
        + f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        + '<div class="buttons">'
        + '<button class="approve" type="submit" name="decision" value="approve">Approve</button>'
        + '<button class="deny" type="submit" name="decision" value="deny">Deny</button>'
        + "</div></form>"
        + f'<p class="note">Nothing happens until you choose. If you do not answer within {_duration(ttl_s)}, '
        + "the request is refused and nothing is changed. This page works once, in this browser only.</p>"
    )
    return _document(f"{clean(server_name, 80)}: approve?", body)


def answered_page(server_name: str, approved: bool) -> str:
    if approved:
        title, text = "Approved", f"{clean(server_name, 80)} will now carry it out and report the result."
    else:
        title, text = "Denied", "Nothing was changed."
    body = _who(server_name) + f"<h1>{title}</h1>" + f'<p class="note">{escape(text)} You can close this tab.</p>'
    return _document(f"{title}: {clean(server_name, 80)}", body)


def notice_page(server_name: str | None, title: str, text: str) -> str:
    """Closed, open elsewhere, refused, not found: a heading and one sentence."""
    who = _who(server_name) if server_name else ""
    body = who + f"<h1>{escape(title)}</h1>" + f'<p class="note">{escape(text)}</p>'
    return _document(title, body)
