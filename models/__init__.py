"""The shipped decoder/encoder weights and their manifest (data only, loaded by floweq_tui.vae)."""
