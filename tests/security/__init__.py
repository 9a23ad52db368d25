"""The security suite of issue 12 (a package, so its conftest and helpers cannot shadow tests/conftest.py)."""
