"""Run the kit's command line: ``python -m hunting_lib --help``."""

import sys

from hunting_lib.cli import main

sys.exit(main())
