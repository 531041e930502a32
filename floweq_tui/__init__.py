"""floweq-tui: a live five-band equalizer for the terminal, driven by a beta-VAE latent space."""

__version__ = "0.1.0"
