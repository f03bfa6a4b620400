"""A generated clip's merit for a retrain: the ranking key of `clones.services.selection`, in Python and SQL.

Merit is quality × a length sweet spot − a lineage penalty (0…1). The selection ranks candidates by
(merit descending, id ascending); `merit_expression(F("duration_s"))` is also the key of the expression
index `clip_selection_rank_idx` (clones.models.ClipSample.Meta), so PostgreSQL walks one voice's
candidates best first and stops after the few rows the picker needs instead of sorting the whole pool.

The index holds the merit of the clip's whole duration. The selection ranks by the seconds it would use,
min(duration, RETRAIN_CLIP_MAX_USE_S); the two merits are equal whenever that setting is above
IDEAL_MAX_S (every reply longer than IDEAL_MAX_S has the same length factor either way), which the
default (25 s) is. Below it the selection ranks with `merit_expression(LEAST(duration, max_use_s))`,
the same values, without the index (`index_ranks_by_merit`).
"""

from __future__ import annotations

from django.db.models import Case, ExpressionWrapper, F, FloatField, Value, When
from django.db.models.functions import Cast, Coalesce, Greatest
from django.db.models.lookups import GreaterThan, LessThan

IDEAL_MIN_S, IDEAL_MAX_S = 4.0, 15.0
LINEAGE_PENALTY_PER_LEVEL = 0.05


def merit(*, quality_score, use_s: float, lineage_depth: int) -> float:
    """The merit of one clip (`lineage_depth` already one deeper when the lineage is unknown)."""
    quality = (quality_score if quality_score is not None else 50.0) / 100.0
    if use_s < IDEAL_MIN_S:
        length = 0.85 + 0.15 * max(0.0, use_s - 2.0) / (IDEAL_MIN_S - 2.0)
    elif use_s > IDEAL_MAX_S:
        length = 0.95
    else:
        length = 1.0
    return quality * length - LINEAGE_PENALTY_PER_LEVEL * max(0, lineage_depth - 1)


def merit_expression(use_s):
    """`merit()` as an SQL expression over a clip's columns (the same operations in the same order, so the
    same double-precision values); `use_s` is an expression for the seconds used."""
    quality = Coalesce(F("quality_score"), Value(50.0)) / Value(100.0)
    length = Case(
        When(LessThan(use_s, Value(IDEAL_MIN_S)),
             then=Value(0.85) + Value(0.15) * Greatest(Value(0.0), use_s - Value(2.0)) / Value(IDEAL_MIN_S - 2.0)),
        When(GreaterThan(use_s, Value(IDEAL_MAX_S)), then=Value(0.95)),
        default=Value(1.0), output_field=FloatField(),
    )
    depth = F("lineage_depth") + Case(When(is_lineage_unknown=True, then=Value(1)), default=Value(0))
    penalty = Value(LINEAGE_PENALTY_PER_LEVEL) * Cast(Greatest(Value(0), depth - Value(1)), FloatField())
    return ExpressionWrapper(quality * length - penalty, output_field=FloatField())


def index_ranks_by_merit(max_use_s: float) -> bool:
    """Whether the index's merit (of the whole duration) orders clips as the selection does."""
    return max_use_s > IDEAL_MAX_S
