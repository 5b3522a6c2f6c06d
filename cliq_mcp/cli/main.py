"""Command line: flags and environment -> Settings -> run. No logic of its own."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cliq_mcp.cliq.client import Transport

from cliq_mcp import __version__
from cliq_mcp.core.config import GUARD_POLICIES, LOG_LEVELS

# Subcommands whose parsers live in their own modules: imported only when named (serving starts faster), but
# every one is a choice, so a mistyped subcommand is told all of them.
LAZY = {
    "auth": "sign in to Zoho and save the credentials",
    "config": "connect an MCP client to this server",
    "audit": "show the audit log of write attempts as a table, newest first",
    "bundle": "build the MCP Bundle (.mcpb) for Claude Desktop",
    "tidy": "housekeeping by a policy file",
}


def _parser(commands: set[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cliq-mcp",
        description="MCP server for Zoho Cliq chats. Serves MCP over stdio; logs go to stderr.",
        epilog="Credentials come from CLIQ_ACCESS_TOKEN, or CLIQ_CLIENT_ID + CLIQ_CLIENT_SECRET + "
        "CLIQ_REFRESH_TOKEN; CLIQ_DC picks the data centre (com, eu, in, com.au, jp, com.cn, ca, sa, uk).",
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="serve a simulated Cliq workspace (no account, no network)"
    )
    parser.add_argument("--auto-sandbox", action="store_true", help="the sandbox only when no credentials are set")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, help="default WARNING (env CLIQ_LOG_LEVEL)")
    parser.add_argument("--dc", help="data centre, as CLIQ_DC")
    parser.add_argument("--api-base-url", help="as CLIQ_API_BASE_URL")
    parser.add_argument("--accounts-url", help="as CLIQ_ACCOUNTS_URL")
    parser.add_argument("--guard", choices=GUARD_POLICIES, help="as CLIQ_GUARD")
    parser.add_argument("--read-only", action="store_true", help="serve only the read tools (as CLIQ_READ_ONLY=1)")
    parser.add_argument("--tools", help="tools or toolsets (read, write, destructive) to serve, as CLIQ_TOOLS")
    parser.add_argument("--exclude-tools", help="tools or toolsets not to serve, as CLIQ_EXCLUDE_TOOLS")
    parser.add_argument("--audit-log", help="audit log path, or 'off' (as CLIQ_AUDIT_LOG)")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP: address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP: port (default 8000); MCP endpoint /mcp")
    parser.add_argument("--workers", type=int, default=1, help="HTTP: worker processes (default 1)")
    parser.add_argument("--version", action="version", version=f"cliq-mcp {__version__}")
    sub = parser.add_subparsers(dest="command")
    if commands is None or commands & {"auth", "config", "-h", "--help"}:  # serving needs neither: start faster
        from cliq_mcp.cli import host_config, signin

        signin.add_parser(sub)
        host_config.add_parser(sub)
    if commands is None or commands & {"audit", "-h", "--help"}:
        from cliq_mcp.cli import audit_view

        audit_view.add_parser(sub)
    if commands is None or commands & {"bundle", "-h", "--help"}:
        from cliq_mcp.cli import bundle

        bundle.add_parser(sub)
    if commands is None or commands & {"tidy", "-h", "--help"}:
        from cliq_mcp.cli import tidy

        tidy.add_parser(sub)
    for name, what in LAZY.items():  # not loaded: still a choice (and listed) on a usage error
        if name not in sub.choices:
            sub.add_parser(name, help=what)
    call = sub.add_parser("call", help="run one tool without an LLM and print its structured result as JSON")
    call.add_argument("tool")
    call.add_argument("arguments", nargs="?", default="{}", help="JSON object of arguments (default {})")
    call.add_argument("--text", action="store_true", help="print the summary text instead of JSON")
    call.add_argument("--quiet", action="store_true", help="no progress on stderr (shown for long tools)")
    # also after the tool, as the terminal banner shows it; SUPPRESS keeps a --sandbox given before `call`
    call.add_argument("--sandbox", action="store_true", default=argparse.SUPPRESS, help="as cliq-mcp --sandbox")
    sandbox = sub.add_parser("sandbox-server", help="serve the simulated Cliq API over HTTP on loopback")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    schemas = sub.add_parser("schemas", help="write tool_schemas/ from the live tool list (or --check it)")
    schemas.add_argument("--dir", default="tool_schemas")
    schemas.add_argument("--check", action="store_true", help="exit 1 if the files differ from the code")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    transport: Transport | None = None,
) -> int:
    """``env`` defaults to ``os.environ``; ``transport`` (tests: the sandbox in-process) carries ``auth``'s requests."""
    try:
        return _main(argv, env, transport)
    except KeyboardInterrupt:  # Ctrl-C at any moment (even while starting): no traceback
        print("cliq-mcp: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None, env: Mapping[str, str] | None, transport: Transport | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    env = os.environ if env is None else env
    args = _parser(set(argv)).parse_args(argv)
    if args.command == "auth":
        return int(args.run(args, env, transport))
    if hasattr(args, "write_bundle"):
        return int(args.write_bundle(args))
    if hasattr(args, "show_audit"):
        return int(args.show_audit(args, {**env, **({"CLIQ_AUDIT_LOG": args.audit_log} if args.audit_log else {})}))
    if hasattr(args, "run"):  # config
        return int(args.run(args))
    if args.command == "sandbox-server":
        from cliq_mcp.sandbox import serve as serve_sandbox

        serve_sandbox(host=args.host, port=args.port)
        return 0
    if args.command == "schemas":
        from cliq_mcp.cli.schemas import main as schemas_main

        return schemas_main(args.dir, check=args.check)

    from cliq_mcp.core import logs
    from cliq_mcp.core.config import Settings
    from cliq_mcp.core.errors import ConfigurationError

    env = dict(env)
    for flag in ("dc", "api_base_url", "accounts_url", "guard", "tools", "exclude_tools", "audit_log"):
        if getattr(args, flag):
            env[f"CLIQ_{flag.upper()}"] = getattr(args, flag)
    if args.read_only:
        env["CLIQ_READ_ONLY"] = "1"
    try:
        settings = Settings.from_env(
            env,
            sandbox=True if args.sandbox else "auto" if args.auto_sandbox else False,
            log_level=args.log_level,
        )
    except ConfigurationError as exc:
        print(f"cliq-mcp: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.secrets())

    if args.command == "call":
        return _call(args, settings)
    if args.command == "tidy":
        return int(args.tidy(args, settings, transport))
    at_terminal = sys.stdin.isatty() and args.transport != "http"  # a person, not a client: the banner says it
    if settings.sandbox and not at_terminal:
        print("cliq-mcp: serving the simulated sandbox workspace (no Cliq account used)", file=sys.stderr)
    elif settings.problem is not None:
        print(f"cliq-mcp: {settings.problem} Tools will answer with this until it is fixed.", file=sys.stderr)
    elif settings.auth_mode == "none":
        print("cliq-mcp: no credentials set; tools will answer with setup instructions", file=sys.stderr)
    try:
        if args.transport == "http":
            from cliq_mcp.serve.http_app import serve

            def listening() -> None:
                print(f"cliq-mcp: MCP over HTTP at http://{args.host}:{args.port}/mcp", file=sys.stderr)

            with contextlib.suppress(KeyboardInterrupt):
                serve(settings, args.host, args.port, workers=args.workers, env=env, listening=listening)
            return 0
        from cliq_mcp.serve.server import build_server

        server = build_server(settings)
    except ConfigurationError as exc:
        print(f"cliq-mcp: {exc}", file=sys.stderr)
        return 2
    if at_terminal:  # say what this is (cli/banner.py)
        from cliq_mcp.cli import banner

        banner.show(sandbox=settings.sandbox, credentials=settings.auth_mode != "none")
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if at_terminal:
        banner.stopped()
    return 0


def _call(args: argparse.Namespace, settings: Any) -> int:
    """Exit 0: done (or a dry run); 1: the tool answered with an error; 2: bad usage or settings;
    3: a destructive call is waiting for confirmation (a preview with a token was printed)."""
    import anyio

    from cliq_mcp.core.errors import ConfigurationError
    from cliq_mcp.serve.tool_call import ask_at_terminal, call, has_terminal

    try:
        arguments = json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        print(f"cliq-mcp: the arguments are not JSON ({exc.msg}).", file=sys.stderr)
        return 2
    if not isinstance(arguments, dict):
        print("cliq-mcp: the arguments must be a JSON object.", file=sys.stderr)
        return 2
    from cliq_mcp.tools.catalogue import BY_NAME

    if args.tool not in BY_NAME:
        import difflib

        near = difflib.get_close_matches(args.tool, list(BY_NAME), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(near)}?" if near else ""
        print(f"cliq-mcp: no tool named {args.tool!r}.{hint} The tools: {', '.join(BY_NAME)}.", file=sys.stderr)
        return 2
    from cliq_mcp.cli import progress as call_progress

    ask = ask_at_terminal if has_terminal() else None
    try:
        with call_progress.shown(quiet=args.quiet) as progress:
            result = anyio.run(lambda: call(args.tool, arguments, settings=settings, ask=ask, progress=progress))
    except ConfigurationError as exc:
        print(f"cliq-mcp: {exc}", file=sys.stderr)
        return 2
    if args.text or not result.ok:
        print(result.text)
    else:
        print(json.dumps(result.data, ensure_ascii=False, indent=2))
    if not result.ok:
        return 1
    return 3 if result.pending_confirmation else 0


if __name__ == "__main__":
    sys.exit(main())
