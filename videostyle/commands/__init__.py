"""Layer 7, commands that are more than a call into the run: the demo and the preview. cli/ (above them)
parses flags and is the only package that prints."""
