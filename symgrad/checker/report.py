"""What :func:`check` returns: one :class:`Component` per derivative checked, printed and as JSON.

Each component's verdict is "right", "wrong" or "undecided"; a report is
truthy only when every component is right, so an undecided claim is never
passed as a right one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

VERDICTS = ("right", "wrong", "undecided")


@dataclass
class Component:
    """The verdict on one derivative: d f / d variable (or one entry of a Hessian)."""

    name: str
    variable: str
    correct: object
    claimed: object
    difference: object
    verdict: str
    method: str
    compared: str = "gradient"
    correct_text: str = ""
    claimed_text: str = ""
    difference_text: str = ""
    point: dict[str, object] = field(default_factory=dict)
    """The point whose values are shown: the one given with ``at=``, else the witness."""
    correct_value: object = None
    claimed_value: object = None
    diagnosis: list[str] = field(default_factory=list)
    witness: dict[str, object] | None = None
    """A point where correct and claimed differ (wrong components only)."""
    witness_values: tuple[object, object] | None = None
    """(correct, claimed) at the witness, when it is not the point shown."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == "right"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "variable": self.variable,
            "ok": self.ok,
            "verdict": self.verdict,
            "method": self.method,
            "compared": self.compared,
            "correct": self.correct_text,
            "claimed": self.claimed_text,
            "difference": self.difference_text,
            "point": {k: jsonable(v) for k, v in self.point.items()},
            "correct_value": jsonable(self.correct_value),
            "claimed_value": jsonable(self.claimed_value),
            "diagnosis": list(self.diagnosis),
            "witness": None if self.witness is None else {k: jsonable(v) for k, v in self.witness.items()},
            "witness_values": None if self.witness_values is None else [jsonable(v) for v in self.witness_values],
            "notes": list(self.notes),
        }


@dataclass
class CheckReport:
    """The result of :func:`check`: truthy iff every component of the claim is right."""

    function: str
    components: list[Component]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)

    @property
    def verdict(self) -> str:
        """ "right", "wrong" (some component is wrong) or "undecided" (none wrong, some undecided)."""
        if self.ok:
            return "right"
        return "wrong" if any(c.verdict == "wrong" for c in self.components) else "undecided"

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "function": self.function,
            "components": [c.to_dict() for c in self.components],
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        names = ", ".join(c.name for c in self.components)
        lines = [f"check of {names} for {self.function}: {self._head()}"]
        for c in self.components:
            lines.extend(_component_lines(c))
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def _head(self) -> str:
        n = len(self.components)
        wrong = sum(c.verdict == "wrong" for c in self.components)
        undecided = sum(c.verdict == "undecided" for c in self.components)
        if self.ok:
            return "right"
        if wrong:
            also = f", {undecided} undecided" if undecided else ""
            return f"WRONG ({wrong} of {n} component(s) wrong{also})"
        return f"UNDECIDED ({undecided} of {n} component(s) could not be decided; not a 'right' verdict)"


def _component_lines(c: Component) -> list[str]:
    if c.ok:
        lines = [f"  {c.name}: right, {c.correct_text} ({c.method})"]
    else:
        lines = [
            f"  {c.name}: {c.verdict.upper()} ({c.method})",
            f"    correct {c.name} = {c.correct_text}",
            f"    claimed {c.name} = {c.claimed_text}",
        ]
        if c.difference_text and c.verdict == "wrong":
            lines.append(f"    difference (correct - claimed), simplified: {c.difference_text}")
        lines.extend(f"    {d}" for d in c.diagnosis)
    if c.point:
        lines.append(
            f"    at {_at(c.point)}: correct {fmt_value(c.correct_value)}, claimed {fmt_value(c.claimed_value)}"
        )
    if c.witness and c.witness_values is not None:
        correct, claimed = c.witness_values
        lines.append(f"    they differ at {_at(c.witness)}: correct {fmt_value(correct)}, claimed {fmt_value(claimed)}")
    lines.extend(f"    note: {n}" for n in c.notes)
    return lines


def _at(point: dict[str, object]) -> str:
    return ", ".join(f"{k} = {fmt_value(v)}" for k, v in point.items())


def fmt_value(v) -> str:
    arr = np.asarray(v, dtype=float)
    if arr.ndim == 0:
        return f"{float(arr):.10g}"
    return np.array2string(arr, separator=", ", formatter={"float_kind": lambda x: f"{x:.10g}"})


def jsonable(v):
    """Numbers and arrays as JSON values: a non-finite number as a string, in an array as null."""
    if v is None:
        return None
    arr = np.asarray(v, dtype=float)
    if arr.ndim == 0:
        return json_float(float(arr))
    return _nested(arr.tolist())


def _nested(items):
    if isinstance(items, list):
        return [_nested(x) for x in items]
    return items if math.isfinite(items) else None


def json_float(x: float):
    return x if math.isfinite(x) else str(x)
