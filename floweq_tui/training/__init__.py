"""The model-training pipeline, used by `floweq-tui train` and never by the instrument.

- :mod:`.safedb`: loading, cleaning and splitting the SAFE-DB equaliser user data;
- :mod:`.train`: the beta-VAE family trained with PyTorch (the ``train`` extra);
- :mod:`.evaluate`: curve errors, the PCA baseline and the semantic anchors (NumPy only).

Importing this package imports nothing heavy; PyTorch is imported by :mod:`.train` alone.
"""
