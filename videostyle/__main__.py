"""``python -m videostyle``: the same command line as the ``videostyle`` script."""
import sys

from .cli import main

sys.exit(main())
