"""Entry points and commands: `cliq-mcp` (main.py), and each subcommand's own module."""
