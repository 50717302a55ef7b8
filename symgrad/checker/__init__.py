"""The exercise checker: ``check`` for claimed derivatives, ``gradcheck`` for numeric gradient code.

Layers, each importing only those before it: :mod:`.report` (the verdicts),
:mod:`.claims` (reading f, wrt, the claim and ``at``), :mod:`.decide` (equal or
not: sympy first, then numbers), :mod:`.diagnose` (why a claim is wrong),
:mod:`.check` (the entry point wiring them) and :mod:`.gradcheck`.
"""

from .check import check
from .gradcheck import GradcheckReport, gradcheck
from .report import CheckReport, Component

__all__ = ["CheckReport", "Component", "GradcheckReport", "check", "gradcheck"]
