"""Attribution models: per conversion and channel, a `credit` (the conversion's credits sum to 1)
and `attributed_revenue` (credit x the conversion's net revenue, exact to 6 decimal places).

Every model works on a conversion's path steps (see `paths`); a channel that appears at several
positions gets the sum of their credit. Models:

- `first_click`, `last_click`: 100% to the first / last step.
- `last_non_direct_click`: 100% to the last step that is not Direct; a Direct-only path keeps
  Direct.
- `linear`: equal credit per step.
- `time_decay`: a step's weight halves every `time_decay_half_life_days` before the path's last
  touch (2 ** -(age / half-life), weights normalised to sum to 1).
- `position_based`: `position_based_weights` (first, middle, last), 40/20/40 by default; the
  middle share is split equally among the middle steps; a one-step path gets 100%, a two-step
  path first / (first + last) and last / (first + last) (50/50 by default).
- `markov`: split among the path's distinct channels in proportion to their removal effects
  (`markov.removal_effects`); equally when none of them has one.

A conversion with an empty path (no touchpoint in its lookback window) gets credit 1 on the
channel `(none)` in every model. Rows with credit 0 are not written.

Revenue is exact: each channel's share is rounded to 6 decimals, except the channel with the
largest credit (the later one on a tie), which takes the net revenue minus the others' shares,
so a conversion's attributed revenues add up to its net revenue exactly. Cancelled conversions
have net revenue 0.

The models are column expressions on the path array (no UDF, no window), so they run on any
frame of paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.attribution.channels import DIRECT, NO_TOUCH
from ad_marketing_pipeline.config import AttributionConfig

Transform = Callable[[DataFrame], DataFrame]

FIRST_CLICK = "first_click"
LAST_CLICK = "last_click"
LAST_NON_DIRECT_CLICK = "last_non_direct_click"
LINEAR = "linear"
TIME_DECAY = "time_decay"
POSITION_BASED = "position_based"
MARKOV = "markov"
RULE_BASED_MODELS: tuple[str, ...] = (
    FIRST_CLICK,
    LAST_CLICK,
    LAST_NON_DIRECT_CLICK,
    LINEAR,
    TIME_DECAY,
    POSITION_BASED,
)
MODELS: tuple[str, ...] = (*RULE_BASED_MODELS, MARKOV)

ATTRIBUTION_COLUMNS = (
    "conversion_id",
    "model",
    "channel",
    "user_id",
    "converted_at",
    "is_cancelled",
    "credit",
    "attributed_revenue",
)
_PATH_COLUMNS = ("conversion_id", "user_id", "converted_at", "is_cancelled", "net_revenue")
_CREDIT_DECIMAL = "decimal(20,18)"
_SUM_DECIMAL = "decimal(38,6)"
_SECONDS_PER_DAY = 86_400.0

Weighting = Callable[[Column, Column, Column, Column], Column]


def _weighted(steps: Column, weight: Weighting) -> Column:
    """array<struct<channel, weight, position>> with weight(step, i, n, steps)."""
    size = F.size(steps)
    return F.transform(
        steps,
        lambda step, i: F.struct(
            step["channel"].alias("channel"),
            weight(step, i, size, steps).cast("double").alias("weight"),
            i.alias("position"),
        ),
    )


def _first_click(step: Column, i: Column, n: Column, steps: Column) -> Column:
    return F.when(i == 0, 1.0).otherwise(0.0)


def _last_click(step: Column, i: Column, n: Column, steps: Column) -> Column:
    return F.when(i == n - 1, 1.0).otherwise(0.0)


def _last_non_direct_click(step: Column, i: Column, n: Column, steps: Column) -> Column:
    non_direct = F.transform(steps, lambda s, j: F.when(s["channel"] != DIRECT, j))
    chosen = F.coalesce(F.array_max(non_direct), n - 1)
    return F.when(i == chosen, 1.0).otherwise(0.0)


def _linear(step: Column, i: Column, n: Column, steps: Column) -> Column:
    return F.lit(1.0)


def _time_decay(half_life_days: float) -> Weighting:
    half_life_micros = half_life_days * _SECONDS_PER_DAY * 1e6

    def weight(step: Column, i: Column, n: Column, steps: Column) -> Column:
        # Relative to the last touch, so the newest weight is 1 and none underflows to 0 first.
        latest = F.unix_micros(F.element_at(steps, -1)["touched_at"])
        age = (latest - F.unix_micros(step["touched_at"])).cast("double")
        return F.pow(F.lit(2.0), -age / F.lit(half_life_micros))

    return weight


def _position_based(weights: tuple[float, float, float]) -> Weighting:
    first, middle, last = weights
    ends = first + last
    first_of_two, last_of_two = (first / ends, last / ends) if ends > 0 else (0.5, 0.5)

    def weight(step: Column, i: Column, n: Column, steps: Column) -> Column:
        return (
            F.when(n == 1, 1.0)
            .when(n == 2, F.when(i == 0, first_of_two).otherwise(last_of_two))
            .when(i == 0, first)
            .when(i == n - 1, last)
            .otherwise(F.lit(middle) / (n - 2))
        )

    return weight


def _markov(effects: Mapping[str, float]) -> Weighting:
    pairs = [
        F.lit(value) for channel, effect in sorted(effects.items()) for value in (channel, effect)
    ]
    effect_map = F.create_map(*pairs) if pairs else None

    def effect_of(channel: Column) -> Column:
        if effect_map is None:
            return F.lit(0.0)
        return F.coalesce(effect_map[channel].cast("double"), F.lit(0.0))

    def weight(step: Column, i: Column, n: Column, steps: Column) -> Column:
        # Once per distinct channel: at its last position.
        positions = F.transform(steps, lambda s, j: F.when(s["channel"] == step["channel"], j))
        is_last = i == F.array_max(positions)
        total = F.aggregate(
            F.array_distinct(F.transform(steps, lambda s: s["channel"])),
            F.lit(0.0),
            lambda acc, channel: acc + effect_of(channel),
        )
        share = F.when(total > 0, effect_of(step["channel"])).otherwise(1.0)
        return F.when(is_last, share).otherwise(0.0)

    return weight


def _channel_credits(weighted: Column) -> Column:
    """Per distinct channel: credit (its weights over the total) and its last position;
    channels with credit 0 are left out; an empty path is 100% `(none)`."""
    total = F.aggregate(weighted, F.lit(0.0), lambda acc, w: acc + w["weight"])
    channels = F.array_distinct(F.transform(weighted, lambda w: w["channel"]))

    def credit_of(channel: Column) -> Column:
        mine = F.filter(weighted, lambda w: w["channel"] == channel)
        return F.struct(
            (F.aggregate(mine, F.lit(0.0), lambda acc, w: acc + w["weight"]) / total).alias(
                "credit"
            ),
            F.array_max(F.transform(mine, lambda w: w["position"])).alias("position"),
            channel.alias("channel"),
        )

    credits = F.filter(F.transform(channels, credit_of), lambda c: c["credit"] > 0)
    none = F.array(
        F.struct(
            F.lit(1.0).alias("credit"), F.lit(0).alias("position"), F.lit(NO_TOUCH).alias("channel")
        )
    )
    return F.when(F.size(weighted) == 0, none).otherwise(credits)


def _rounded_shares(credits: Column, net_revenue: Column) -> Column:
    """Sorted by credit (then position), each with credit x net revenue rounded to 6 places."""
    return F.transform(
        F.array_sort(credits),
        lambda c: F.struct(
            c["channel"].alias("channel"),
            c["credit"].alias("credit"),
            F.round(net_revenue * c["credit"].cast(_CREDIT_DECIMAL), contract.MONEY_SCALE)
            .cast(contract.MONEY_TYPE)
            .alias("attributed_revenue"),
        ),
    )


def _absorb_rounding(rounded: Column, net_revenue: Column) -> Column:
    """The last share (the largest credit; the later one on a tie) becomes the net revenue
    minus the others, so that the shares add up to it exactly."""
    size = F.size(rounded)
    others = F.aggregate(
        F.slice(rounded, 1, size - 1),
        F.lit(0).cast(_SUM_DECIMAL),
        lambda acc, c: (acc + c["attributed_revenue"]).cast(_SUM_DECIMAL),
    )
    remainder = (net_revenue - others).cast(contract.MONEY_TYPE)
    return F.transform(
        rounded,
        lambda c, i: F.struct(
            c["channel"].alias("channel"),
            c["credit"].alias("credit"),
            F.when(i == size - 1, remainder)
            .otherwise(c["attributed_revenue"])
            .alias("attributed_revenue"),
        ),
    )


def _weightings(
    config: AttributionConfig, removal_effects: Mapping[str, float] | None
) -> dict[str, Weighting]:
    weightings: dict[str, Weighting] = {
        FIRST_CLICK: _first_click,
        LAST_CLICK: _last_click,
        LAST_NON_DIRECT_CLICK: _last_non_direct_click,
        LINEAR: _linear,
        TIME_DECAY: _time_decay(config.time_decay_half_life_days),
        POSITION_BASED: _position_based(config.position_based_weights),
    }
    if removal_effects is not None:
        weightings[MARKOV] = _markov(removal_effects)
    return weightings


def attribute(
    config: AttributionConfig,
    *,
    models: Sequence[str] = RULE_BASED_MODELS,
    removal_effects: Mapping[str, float] | None = None,
) -> Transform:
    """Conversion paths (conversion_id, user_id, converted_at, is_cancelled, net_revenue,
    steps) -> one row per conversion x model x channel (`ATTRIBUTION_COLUMNS`). `markov` needs
    the fitted `removal_effects`."""
    weightings = _weightings(config, removal_effects)
    unknown = [model for model in models if model not in weightings]
    if unknown:
        raise ValueError(
            f"unknown attribution model(s) {unknown}: choose among {list(MODELS)} "
            "(markov needs removal_effects)"
        )

    def transform(paths: DataFrame) -> DataFrame:
        # One column per stage: a stage's array is then computed once, not once per reference.
        per_model = F.array(
            *(
                F.struct(
                    F.lit(model).alias("model"),
                    _weighted(F.col("steps"), weightings[model]).alias("weighted"),
                )
                for model in models
            )
        )
        net_revenue = F.col("net_revenue").cast(contract.MONEY_TYPE)
        return (
            paths.select(*_PATH_COLUMNS, F.explode(per_model).alias("m"))
            .select(*_PATH_COLUMNS, "m.model", "m.weighted")
            .withColumn("credits", _channel_credits(F.col("weighted")))
            .withColumn("credits", _rounded_shares(F.col("credits"), net_revenue))
            .withColumn("credits", _absorb_rounding(F.col("credits"), net_revenue))
            .select(*_PATH_COLUMNS, "model", F.explode("credits").alias("c"))
            .select(
                "conversion_id",
                "model",
                F.col("c.channel").alias("channel"),
                "user_id",
                "converted_at",
                "is_cancelled",
                F.col("c.credit").alias("credit"),
                F.col("c.attributed_revenue").alias("attributed_revenue"),
            )
        )

    return transform
