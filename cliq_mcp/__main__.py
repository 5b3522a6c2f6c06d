import sys

try:
    from cliq_mcp.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while Python is still loading: no traceback either
    sys.exit(130)

sys.exit(main())
