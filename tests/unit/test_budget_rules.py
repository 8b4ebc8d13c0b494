"""The budget rules of gold/rules.py in their two forms agree: the Spark columns Gold computes
with and the Python the serving stream folds with (the SQL views only read what these store)."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy
from ad_marketing_pipeline.gold.rules import (
    BUDGET_UPDATE_RANK,
    CLICK_BUDGET_RANK,
    budget_order,
    can_serve_column,
    can_serve_value,
    order_key,
)

MONEY = "decimal(38,6)"
SPENDS = [Decimal("0"), Decimal("9.999999"), Decimal("10"), Decimal("10.000001"), Decimal("1e12")]
BUDGETS = [None, Decimal("0"), Decimal("10")]


@pytest.mark.parametrize("missing_budget", ["serve", "block"])
def test_can_serve_is_the_same_rule_as_a_column_and_as_a_value(
    spark: SparkSession, missing_budget: str
) -> None:
    policy = BudgetPolicy.model_validate({"missing_budget": missing_budget})
    cases = list(itertools.product(SPENDS, BUDGETS))
    frame = spark.createDataFrame(cases, f"spend {MONEY}, budget {MONEY}")

    rows = frame.select(
        "spend", "budget", can_serve_column(F.col("spend"), F.col("budget"), policy).alias("cs")
    ).collect()

    assert len(rows) == len(cases)
    for row in rows:
        assert row["cs"] == can_serve_value(row["spend"], row["budget"], policy), row


def _observations(seed: int) -> list[tuple[object, ...]]:
    """Budget observations of one advertiser with many ties: a few instants, both ranks,
    arrival times and positions that are sometimes missing."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    rows: list[tuple[object, ...]] = []
    for index in range(12):
        rows.append(
            (
                Decimal(rng.randint(0, 5)),
                start + timedelta(hours=rng.randint(0, 2)),
                rng.choice([BUDGET_UPDATE_RANK, CLICK_BUDGET_RANK]),
                rng.choice([None, start + timedelta(minutes=rng.randint(0, 3))]),
                rng.choice([None, "a.jsonl", "b.jsonl"]),
                rng.choice([None, 0, 1]),
                rng.choice([None, rng.randint(0, 3)]),
                f"budget_update:{index}",
            )
        )
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_the_budget_in_effect_is_the_same_newest_observation_in_spark_and_python(
    spark: SparkSession, seed: int
) -> None:
    rows = _observations(seed)
    frame = spark.createDataFrame(
        rows,
        f"budget_value {MONEY}, event_time timestamp, rank int, received_at timestamp, "
        "file_path string, partition int, offset bigint, event_id string",
    )

    in_spark = frame.agg(
        F.max_by("budget_value", budget_order(F.col("rank"))).alias("budget"),
        F.max(budget_order(F.col("rank"))).alias("order"),
    ).first()

    newest = max(rows, key=lambda row: order_key(row[1:]))
    assert in_spark is not None
    assert tuple(in_spark["order"]) == newest[1:]
    assert in_spark["budget"] == newest[0]
