"""The jinja2 environment over ``templates/``: templates frame the printed code.

The templates ship inside the installed package (``symgrad/templates``, mapped
from the repository's top-level ``templates/`` by pyproject.toml); a source
checkout uses the top-level folder directly.
"""

from __future__ import annotations

import functools
from pathlib import Path


def template_dir() -> Path:
    """Where the templates are: inside the installed package, else the source tree."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "numpy" / "kernel.py.j2").is_file():
            return candidate
    raise FileNotFoundError(f"symgrad's code templates are missing (looked in {package / 'templates'})")


@functools.lru_cache(maxsize=1)
def environment():
    """The jinja2 environment; jinja2 is imported here, on the first render, not at ``import symgrad``."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(template: str, **context) -> str:
    """Render one template with a small, explicit context."""
    return environment().get_template(template).render(**context)
