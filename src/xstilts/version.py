"""The version of xstilts (also `xstilts.__version__`)."""

__version__ = "0.1.0"
