"""Run the kit's command line: ``python -m hunting_lib --help``."""

import sys

from .cli import main

sys.exit(main())
