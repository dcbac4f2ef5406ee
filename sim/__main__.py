"""`python -m sim` is the `weightshift` command."""

import sys

from sim.cli import main

sys.exit(main())
