"""``python -m cliq_mcp.sandbox``: serve the simulated Cliq workspace until interrupted."""

from __future__ import annotations

import argparse

from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cliq_mcp.sandbox",
        description="Serve the simulated Zoho Cliq workspace (API under /api/v3) until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated chats")
    parser.add_argument("--extra-chats", type=int, default=220, help="how many chats to generate")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not enforce the throttle table")
    parser.add_argument("--throttle-style", choices=("429", "400"), default="429")
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.port,
        seed=args.seed,
        extra_chats=args.extra_chats,
        rate_limits=not args.no_rate_limits,
        throttle_style=args.throttle_style,
    )


if __name__ == "__main__":
    main()
