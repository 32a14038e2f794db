"""Where the data beside the code lives: `headers/` (release pins, overlays)
and `templates/` (Jinja). In a checkout they are the repository's top-level
folders; a wheel carries them inside the package. Nothing imports them."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder `name` ("headers" or "templates") this code was shipped with."""
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent.parent / name
