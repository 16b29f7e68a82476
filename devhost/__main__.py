"""`python -m devhost start|keys ...`: see devhost.cli."""

import sys

from devhost.cli import main

sys.exit(main())
