"""People by name or email, and the emails a write tool was given turned into user ids before anything is sent.

Two sources, the better first (the notes, "Users (v2, partly unconfirmed)"):

1. Cliq's v2 Users API, ``GET {v2}/users?search=…&limit=…`` (scope ZohoCliq.Users.READ), the list in ``data``.
   ``{v2}`` is derived from the v3 base (``Settings.users_api_base_url``). A 401/403/404, or a 400
   ``extra_param_found``, means this token or this Cliq does not offer it: the process remembers that and
   asks the chats from then on (a 401 there would cost a token refresh on every call).
2. Your chats: your direct chats (a direct chat is named after the other person; its creator, when that is
   them, gives their id) and the members of your 3 most recent group chats (id, name, email).

Every request is built by a catalogue row, except the Users API's, which no tool serves on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cliq_mcp.cliq import responses as r
from cliq_mcp.cliq.wire import RateLimit, Wire
from cliq_mcp.core.errors import ApiError, AuthenticationError, InvalidArguments, NotFound, PermissionDenied, Throttled
from cliq_mcp.tools.inputs import FindPeople, Request, is_email, parse_arguments
from cliq_mcp.tools.row import Catalogue, Operation, ReportProgress, Sender

USERS = RateLimit("users", 30, "", "ZohoCliq.Users.READ")  # assumption: no threshold is documented; paced like lists
RECENT_GROUPS = 3  # group chats whose members are read when the Users API is not available
DM_MEMBER_READS = 2  # direct chats whose members are read when the chat alone does not say who it is with
FROM_USERS_API = "Cliq's Users API"
FROM_CHATS = "your direct chats and your 3 latest group chats' members"
# Why the Users API did not answer, as the answer says it (client.users_api_refused holds the key).
NO_USERS_API = {
    "scope": "this token lacks ZohoCliq.Users.READ, which finds anyone: `cliq-mcp auth` adds it",
    "absent": "this Cliq does not offer the Users API",
}


@dataclass
class Person:
    user_id: str | None
    name: str | None
    email: str | None
    chat_id: str | None = None  # your direct chat with them


async def _read(client: Sender, catalogue: Catalogue, tool: str, **fields: Any) -> Any:
    op = catalogue[tool]
    return await client.send(op.wire(parse_arguments(op.model, fields)), op.rate)


async def users_api(client: Sender, query: str, limit: int) -> list[Person] | None:
    """People from the v2 Users API, or None when it is not available to this token."""
    if client.users_api_refused:
        return None
    wire = Wire("GET", "/users", params={"search": query, "limit": str(limit)}, api="v2")
    try:
        answer = r.read_answer(r.UserList, await client.send(wire, USERS), "find_people")
    except (AuthenticationError, PermissionDenied):
        client.users_api_refused = "scope"
        return None
    except NotFound:
        client.users_api_refused = "absent"
        return None
    except Throttled:
        raise
    except ApiError as exc:
        if exc.status == 400 and exc.code == "extra_param_found":
            client.users_api_refused = "absent"
            return None
        raise
    return [Person(u.user_id, u.name, u.email_id) for u in answer.data]


async def _direct_chats(client: Sender, catalogue: Catalogue, title: str | None) -> list[r.ChatObject]:
    fields: dict[str, Any] = {"chat_type": ["direct_message"], "limit": 100, "name": title}
    return r.read_answer(r.CliqChatList, await _read(client, catalogue, "search_chats", **fields), "find_people").chats


async def from_chats(
    client: Sender, catalogue: Catalogue, title: str | None, chat_id: str | None
) -> tuple[list[Person], int]:
    """Everyone your direct chats and recent group chats (and ``chat_id``'s members) tell of, and how many of
    those group chats' member lists could not be read (Cliq throttled or refused): not looked at is not no one."""
    dms = await _direct_chats(client, catalogue, title)
    people: dict[str, Person] = {}
    unnamed: list[r.ChatObject] = []
    for dm in dms:
        creator = dm.creator
        if creator is not None and creator.id and creator.name == dm.name:
            people[creator.id] = Person(creator.id, dm.name, None, dm.chat_id)
        else:
            unnamed.append(dm)
    groups = await _read(client, catalogue, "search_chats", chat_type=["group_chat"], limit=RECENT_GROUPS)
    rosters = [chat_id] if chat_id else []
    rosters += [g.chat_id for g in r.read_answer(r.CliqChatList, groups, "find_people").chats]
    rosters += [dm.chat_id for dm in unnamed[:DM_MEMBER_READS]]
    groups_read = set(rosters[: len(rosters) - len(unnamed[:DM_MEMBER_READS])])  # not the direct chats' (best effort)
    unread = 0
    for index, roster_id in enumerate(dict.fromkeys(rosters)):
        try:
            roster = r.read_answer(
                r.MemberList, await _read(client, catalogue, "list_chat_members", chat_id=roster_id), ""
            )
        except Throttled:  # what was read so far still answers; more requests would only extend Cliq's lock
            unread += len([c for c in list(dict.fromkeys(rosters))[index:] if c in groups_read])
            break
        except ApiError:  # the notes list members for group chats and channels only: a direct chat may refuse
            unread += roster_id in groups_read
            continue
        for member in roster.members:
            known = people.get(member.user_id)
            people[member.user_id] = Person(
                member.user_id,
                member.name or (known.name if known else None),
                member.email_id or (known.email if known else None),
                known.chat_id if known else None,
            )
    by_name = {dm.name.casefold(): dm.chat_id for dm in dms if dm.name}
    for person in people.values():
        if person.chat_id is None and person.name:
            person.chat_id = by_name.get(person.name.casefold())
    named = {p.name.casefold() for p in people.values() if p.name}
    # Direct chats whose person is still unknown by id: named, with the chat, so the model can look further.
    return [
        *people.values(),
        *(Person(None, dm.name, None, dm.chat_id) for dm in unnamed if dm.name and dm.name.casefold() not in named),
    ], unread


def matches(person: Person, query: str) -> bool:
    q = query.casefold()
    return any(q in value.casefold() for value in (person.name, person.email) if value)


async def find(client: Sender, catalogue: Catalogue, query: str, limit: int) -> tuple[list[Person], str, int]:
    """People matching ``query`` (part of a name, or an email), which source answered, and how many group chats'
    members it could not read."""
    users = await users_api(client, query, limit)
    if users is not None:  # one request: the direct chats are searched only when the Users API cannot answer
        return users[:limit], FROM_USERS_API, 0
    title = None if is_email(query) else query
    everyone, unread = await from_chats(client, catalogue, title, None)
    found = [p for p in everyone if matches(p, query)]
    return found[:limit], f"{FROM_CHATS} ({NO_USERS_API[client.users_api_refused or 'absent']})", unread


async def find_people(
    op: Operation, request: Request, client: Sender, progress: ReportProgress, catalogue: Catalogue
) -> Any:
    assert isinstance(request, FindPeople)
    people, source, unread = await find(client, catalogue, request.query, request.limit)
    wanted = request.query.strip().casefold()
    return {"people": [{**vars(p), "exact": (p.name or "").strip().casefold() == wanted or None} for p in people],
            "source": source, "unread_member_lists": unread}  # fmt: skip


PEOPLE_FIELDS = ("user_id", "user_ids", "recipient")  # recipient: Zoho's document takes a user id there


def _words(email: str) -> list[str]:
    local = email.split("@")[0].casefold()
    return [w for w in local.replace("_", ".").replace("-", ".").replace("+", ".").split(".") if len(w) > 1]


def _near(person: Person, email: str) -> bool:
    """Someone the email may have meant: its name part in their name or email."""
    return any(matches(person, word) for word in _words(email))


def _who(person: Person) -> str:
    return f"{person.name or '?'} <{person.email or '-'}> ({person.user_id or 'id unknown'})"


async def resolve(request: Request, client: Sender, catalogue: Catalogue) -> Request:
    """``request`` with every email in its user id fields replaced by that person's user id (names noted for
    the summary), or ``InvalidArguments`` listing candidates for an unknown or ambiguous email. Only reads
    are made; nothing is written before every email is resolved."""
    given: list[str] = []
    for name in PEOPLE_FIELDS:
        value = getattr(request, name, None)
        given += [value] if isinstance(value, str) else list(value or [])
    emails = list(dict.fromkeys(v for v in given if is_email(v)))
    if not emails:
        return request
    ids: dict[str, str] = {}
    names: dict[str, str] = {}
    problems: list[str] = []
    directory: list[Person] | None = None
    unread = 0
    for email in emails:
        found = await users_api(client, email, 10)
        where = FROM_USERS_API
        if found is None:
            if directory is None:
                directory, unread = await from_chats(client, catalogue, None, getattr(request, "chat_id", None))
            found, where = directory, "your direct chats and the members of your recent group chats"
            if unread:  # not looked at is not no one
                where += f" (the members of {unread} of them could not be read now: try again later)"
        exact = {p.user_id: p for p in found if p.user_id and p.email and p.email.casefold() == email.casefold()}
        if len(exact) == 1:
            user_id, person = next(iter(exact.items()))
            ids[email] = user_id
            if person.name:
                names[user_id] = person.name
            continue
        if exact:
            listed = "; ".join(_who(p) for p in exact.values())
            problems.append(f"{email} is ambiguous in {where}: {listed}")
            continue
        near = [p for p in found if _near(p, email)][:5]
        if not near and where == FROM_USERS_API and (words := _words(email)):
            near = [p for p in await users_api(client, words[0], 5) or [] if _near(p, email)][:5]
        listed = f"; did you mean: {'; '.join(_who(p) for p in near)}" if near else ""
        problems.append(f"no one with the email {email} in {where}{listed}")
    if problems:
        raise InvalidArguments(
            "Nothing was sent: " + "; ".join(problems) + ".",
            "Pass user ids instead (find_people or list_chat_members show them).",
        )
    update: dict[str, Any] = {}
    for name in PEOPLE_FIELDS:
        value = getattr(request, name, None)
        if isinstance(value, str):
            update[name] = ids.get(value, value)
        elif value:
            update[name] = list(dict.fromkeys(ids.get(v, v) for v in value))
    client.names.update(names)  # the answer names them beside their ids, with no further request
    return request.model_copy(update=update)
