"""jobdeck's templates and static files (presentation only; shipped as package data)."""

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
