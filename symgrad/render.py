"""The jinja2 environment over ``templates/``: templates frame the printed code.

The templates ship inside the installed package (``symgrad/templates``, mapped
from the repository's top-level ``templates/`` by pyproject.toml); a source
checkout uses the top-level folder directly.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2


def template_dir() -> Path:
    """Where the templates are: inside the installed package, else the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "numpy_kernel.py.j2").is_file():
            return candidate
    raise FileNotFoundError(f"symgrad's code templates are missing (looked in {here / 'templates'})")


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(template: str, **context) -> str:
    """Render one template with a small, explicit context."""
    return environment().get_template(template).render(**context)
