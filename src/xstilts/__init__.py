"""xstilts: cross-lingual intermediate-task training for encoder-only and decoder-only models."""

from xstilts.version import __version__

__all__ = ["__version__"]
