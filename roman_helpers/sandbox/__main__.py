"""``python -m roman_helpers.sandbox up|run -- COMMAND``: the sandbox CLI without the main entry point."""

import sys

from roman_helpers.sandbox.cli import main

sys.exit(main())
