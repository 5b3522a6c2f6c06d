"""Benchmarks: cliq-mcp against a bare-SDK reference server and raw httpx. Run ``python -m benchmarks``."""
