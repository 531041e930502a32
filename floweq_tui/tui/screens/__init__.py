"""Screens of the app: the main instrument and the help."""
