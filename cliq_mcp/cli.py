"""Command line: flags and environment -> Settings -> run. No logic of its own."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cliq-mcp",
        description="MCP server for Zoho Cliq chats. Serves MCP over stdio; logs go to stderr.",
        epilog="Credentials come from CLIQ_ACCESS_TOKEN, or CLIQ_CLIENT_ID + CLIQ_CLIENT_SECRET + "
        "CLIQ_REFRESH_TOKEN; CLIQ_DC picks the data centre (com, eu, in, com.au, jp, com.cn, ca, sa, uk).",
    )
    parser.add_argument(
        "--sandbox",
        nargs="?",
        const="on",
        default="off",
        choices=("on", "off", "auto"),
        help="serve a simulated Cliq workspace (no account, no network); 'auto': only when no credentials are set",
    )
    parser.add_argument("--log-level", type=str.upper, choices=LEVELS, help="default WARNING (env CLIQ_LOG_LEVEL)")
    parser.add_argument("--dc", help="data centre, as CLIQ_DC")
    parser.add_argument("--api-base-url", help="as CLIQ_API_BASE_URL")
    parser.add_argument("--accounts-url", help="as CLIQ_ACCOUNTS_URL")
    parser.add_argument("--guard", choices=("ask", "elicit", "refuse", "unattended"), help="as CLIQ_GUARD")
    parser.add_argument("--read-only", action="store_true", help="serve only the read tools (as CLIQ_READ_ONLY=1)")
    parser.add_argument("--tools", help="tools or toolsets (read, write, destructive) to serve, as CLIQ_TOOLS")
    parser.add_argument("--exclude-tools", help="tools or toolsets not to serve, as CLIQ_EXCLUDE_TOOLS")
    parser.add_argument("--audit-log", help="audit log path, or 'off' (as CLIQ_AUDIT_LOG)")
    sub = parser.add_subparsers(dest="command")
    sandbox = sub.add_parser("sandbox-server", help="serve the simulated Cliq API over HTTP on loopback")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    schemas = sub.add_parser("schemas", help="write tool_schemas/ from the live tool list (or --check it)")
    schemas.add_argument("--dir", default="tool_schemas")
    schemas.add_argument("--check", action="store_true", help="exit 1 if the files differ from the code")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "sandbox-server":
        from cliq_mcp.sandbox import serve

        serve(host=args.host, port=args.port)
        return 0
    if args.command == "schemas":
        from cliq_mcp.schemas import main as schemas_main

        return schemas_main(args.dir, check=args.check)

    from cliq_mcp import logs
    from cliq_mcp.config import Settings
    from cliq_mcp.errors import ConfigurationError

    env = dict(os.environ)
    for flag in ("dc", "api_base_url", "accounts_url", "guard", "tools", "exclude_tools", "audit_log"):
        if getattr(args, flag):
            env[f"CLIQ_{flag.upper()}"] = getattr(args, flag)
    if args.read_only:
        env["CLIQ_READ_ONLY"] = "1"
    try:
        settings = Settings.from_env(
            env,
            sandbox=True if args.sandbox == "on" else "auto" if args.sandbox == "auto" else False,
            log_level=args.log_level,
        )
    except ConfigurationError as exc:
        print(f"cliq-mcp: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.secrets())

    from cliq_mcp.server import build_server

    try:
        server = build_server(settings)
    except ConfigurationError as exc:
        print(f"cliq-mcp: {exc}", file=sys.stderr)
        return 2
    if settings.sandbox:
        print("cliq-mcp: serving the simulated sandbox workspace (no Cliq account used)", file=sys.stderr)
    elif settings.auth_mode == "none":
        print("cliq-mcp: no credentials set; tools will answer with setup instructions", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
