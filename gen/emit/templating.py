"""The one Jinja environment every emitter renders with.

Templates live in templates/<kind>/ (installed as the package
vfiogen.templates); they hold presentation only. Jinja is imported here,
lazily, so that commands that render nothing start faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


def environment(kind: str) -> "jinja2.Environment":
    """The environment for templates/<kind>/ (vfio, docs, fuzz, diff)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vfiogen.templates", kind),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    return env
