"""`python -m entrypoints` is the same as the `ankiserv` command."""

import sys

from entrypoints.cli import main

sys.exit(main())
