"""The project's promises about itself: the README's commands, CI, the walkthrough."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", readme)


def test_readme_gives_exactly_two_setup_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert "examples/notes_walkthrough.py" in commands[0]
    assert "pytest" in commands[1] and ".[test]" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci


@pytest.mark.skipif(not (REPO / "examples").is_dir(), reason="needs the source tree")
def test_notes_walkthrough_runs_and_prints_the_notes_numbers():
    res = subprocess.run(
        [sys.executable, str(REPO / "examples" / "notes_walkthrough.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    # the notes' numbers, by hand (the full list of every example is in test_examples.py)
    for expected in ("9*a**2", "(43, 20)", "(288, 648)", "(6, 8)", "v.v = 14", "0.357", "2.303", "(2, 1)"):
        assert expected in out, expected
    assert out.rstrip().endswith("all checks passed")  # the walkthrough asserts each number it prints
