"""python -m videostyle.cli: the same as the videostyle command."""
import sys

from .main import main

sys.exit(main())
