"""``python -m symgrad``: the same command line as the ``symgrad`` console script."""

import sys

from .cli.main import main

sys.exit(main())
