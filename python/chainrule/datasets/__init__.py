"""Small datasets shipped with chainrule, loaded with NumPy alone."""

from .digits import Dataset, load_digits, split

__all__ = ["Dataset", "load_digits", "split"]
