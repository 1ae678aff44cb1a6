"""Label-free prompt optimization for zero-shot classifiers."""

__version__ = "0.1.0"
