"""The Textual terminal UI of floweq-tui (the only package that imports textual)."""
