"""The result type shared by the example's comparisons with the Python bindings
(``compare_with_bindings.py``: reconstruction, ``compare_simulation.py``: fast simulation)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Comparison:
    """Counts, worst differences and the problems found (empty = agree) of one comparison; each
    script's subclass adds its own worst differences."""

    jets: int = 0
    hits: int = 0
    max_abs_denergy: float = 0.0
    tolerance: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict:
        """Every field and ``ok``, for the ``--out`` JSON."""
        return asdict(self) | {"ok": self.ok}
