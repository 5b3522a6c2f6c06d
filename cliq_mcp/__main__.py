import sys

from cliq_mcp.cli import main

sys.exit(main())
