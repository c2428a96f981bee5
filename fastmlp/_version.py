"""The version, in one place: the package reads it here, and so does its build (pyproject.toml)."""
__version__ = "0.1.0"
