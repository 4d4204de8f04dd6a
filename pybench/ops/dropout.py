"""dropout ops (see pybench/reference.py for the math)."""

__all__ = []
