"""xstilts: cross-lingual intermediate-task training for encoder-only and decoder-only models."""

__version__ = "0.1.0"
