"""The Jinja2 wording of every notice and of the digest, shipped as package data."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# Wheels install unzipped, so the package's resources are a real directory for Jinja's loader.
TEMPLATES_DIR = Path(str(files(__name__)))
