"""Hypothesis profiles. CI and the README's test command use `ci`: derandomized (the examples
are a fixed function of each test), so a green build stays green and a red one is reproducible.
`SHAPECHECK_HYPOTHESIS=explore pytest` draws fresh examples, 5x as many: run it when changing
a shape function, and add what it finds as an explicit case."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("SHAPECHECK_HYPOTHESIS", "ci"))
