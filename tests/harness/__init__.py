"""Test-only helpers (JACK servers, load generators, fake engines): never shipped in the wheel."""
