"""``python -m roman_helpers.cli``: the same as the ``roman-helpers`` command."""

import sys

from roman_helpers.cli import main

sys.exit(main())
