"""Command line: ``videostyle stylize INPUT --style STYLE -o OUTPUT``. The only package that prints.

``main.py`` parses and turns every error into one line; ``options.py`` maps config.py's fields to flags
and back; ``handlers.py`` runs each command; ``batch.py`` runs many; ``progress.py`` shows them working.
"""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
