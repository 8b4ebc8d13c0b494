"""The data-driven model: a first-order Markov chain over channels, with removal effects
computed exactly.

The chain's states are `(start)`, one per channel, and two absorbing states, `(conversion)`
and `(null)`. Every conversion path adds the transitions start -> c1 -> ... -> ck ->
conversion (a conversion with no touch: start -> conversion); every non-converting path start
-> c1 -> ... -> ck -> null. Transition probabilities are the observed counts over each state's
outgoing total. Paths are taken after the same transforms as the rule-based models' (by default
consecutive repeats collapse, so a channel never follows itself), but loops such as A -> B -> A
stay in the chain.

P(conversion) is the probability of absorption in `(conversion)` from `(start)`. It solves the
linear system p(x) = sum_y P(x -> y) p(y) over the transient states, with p(conversion) = 1 and
p(null) = 0; loops are handled by the solve itself (no path enumeration, no simulation). Every
state reaches absorption (each path ends in an absorbing state), so the system has one solution.
Removing channel k redirects every transition into k to `(null)` (p(k) = 0); its removal
effect is 1 - P_without_k(conversion) / P(conversion). The solve is Gaussian elimination in
exact rational arithmetic (`fractions.Fraction` on the integer counts), in plain Python: the
system has one row per channel, so it is small whatever the data volume.

The fit (see `layer`) uses the paths of the conversions of the last `markov_window_days` up to
the newest event, cancelled ones included (a cancellation takes revenue away, not the path),
and the non-converting paths of that window (`paths.build_non_converting_paths`); a user whose
every touch lies in some conversion's path has no null path.

A conversion's Markov credit is split among the distinct channels of its path in proportion to
their removal effects (see `models`); when none of them has an effect (channels the fitted
window never saw), it is split equally among them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from fractions import Fraction

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"
ABSORBING = (CONVERSION, NULL)

Transition = tuple[str, str, int]


def _states(steps: Column, end: str) -> Column:
    channels = F.transform(steps, lambda step: step["channel"])
    return F.concat(F.array(F.lit(START)), channels, F.array(F.lit(end)))


def _transitions(states: Column) -> Column:
    return F.transform(
        F.slice(states, 1, F.size(states) - 1),
        lambda state, i: F.struct(
            state.alias("from_state"), F.get(states, i + 1).alias("to_state")
        ),
    )


def transition_counts(converting_paths: DataFrame, non_converting_paths: DataFrame) -> DataFrame:
    """Paths (a `steps` column each) -> the chain's transitions: from_state, to_state, count."""
    converting = converting_paths.select(
        _transitions(_states(F.col("steps"), CONVERSION)).alias("t")
    )
    not_converting = non_converting_paths.select(
        _transitions(_states(F.col("steps"), NULL)).alias("t")
    )
    return (
        converting.unionByName(not_converting)
        .select(F.explode("t").alias("t"))
        .groupBy(F.col("t.from_state").alias("from_state"), F.col("t.to_state").alias("to_state"))
        .agg(F.count(F.lit(1)).alias("count"))
    )


def _solve(matrix: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction]:
    """Gauss-Jordan elimination in exact fractions (the matrix is non-singular)."""
    size = len(rhs)
    rows = [[*row, value] for row, value in zip(matrix, rhs, strict=True)]
    for column in range(size):
        pivot = next(r for r in range(column, size) if rows[r][column] != 0)
        rows[column], rows[pivot] = rows[pivot], rows[column]
        lead = rows[column][column]
        rows[column] = [value / lead for value in rows[column]]
        for r in range(size):
            factor = rows[r][column]
            if r != column and factor != 0:
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[column], strict=True)]
    return [row[size] for row in rows]


def conversion_probability(
    counts: Mapping[str, Mapping[str, int]], removed: str | None = None
) -> Fraction:
    """P(absorption in conversion | start) of the chain with these transition counts, with
    `removed` (a channel) turned into a dead end."""
    transient = sorted(
        {state for state in counts if state not in ABSORBING and state != removed} | {START}
    )
    index = {state: i for i, state in enumerate(transient)}
    matrix = [[Fraction(0)] * len(transient) for _ in transient]
    rhs = [Fraction(0)] * len(transient)
    for state, i in index.items():
        outgoing = counts.get(state, {})
        total = sum(outgoing.values())
        # p(x) * total - sum_y count(x -> y) * p(y) = count(x -> conversion); a state with no
        # outgoing transition (never the case for fitted paths) converts with probability 0.
        matrix[i][i] += total if total else 1
        for target, count in outgoing.items():
            if target == CONVERSION:
                rhs[i] += count
            elif target in index:
                matrix[i][index[target]] -= count
    solution = _solve(matrix, rhs)
    return solution[index[START]]


def removal_effects(transitions: Iterable[Transition]) -> dict[str, float]:
    """Each channel's removal effect, 1 - P(conversion without it) / P(conversion), from the
    chain's transition counts (from_state, to_state, count). All 0 when nothing converts."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for source, target, count in transitions:
        counts[source][target] = counts[source].get(target, 0) + int(count)
    channels = sorted(
        ({s for s in counts} | {t for targets in counts.values() for t in targets})
        - {START, *ABSORBING}
    )
    baseline = conversion_probability(counts)
    if baseline == 0:
        return dict.fromkeys(channels, 0.0)
    return {
        channel: float(1 - conversion_probability(counts, removed=channel) / baseline)
        for channel in channels
    }
