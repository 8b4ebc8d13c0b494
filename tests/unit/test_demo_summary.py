"""The demo summary's transforms on hand-made rows: advertisers not serving, top spenders
against budget, channel credit per model (quarantine by reason is the report's reason_counts)."""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import SparkSession

from ad_marketing_pipeline.attribution.models import MODELS
from ad_marketing_pipeline.demo import (
    channel_credit_by_model,
    not_serving,
    top_spenders,
)

SERVING_SCHEMA = (
    "advertiser string, latest_can_serve boolean, budget_value decimal(18,6), "
    "spend_to_date decimal(18,6), latest_hour timestamp"
)


def serving_status(spark: SparkSession):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        [
            ("adv-a", False, Decimal("100"), Decimal("120"), None),
            ("adv-b", True, Decimal("200"), Decimal("50"), None),
            ("adv-c", True, None, Decimal("10"), None),
        ],
        SERVING_SCHEMA,
    )


def test_not_serving_lists_the_blocked_advertisers(spark: SparkSession) -> None:
    blocked = [row.advertiser for row in not_serving(serving_status(spark)).collect()]
    assert blocked == ["adv-a"]


def test_top_spenders_show_the_share_of_budget_used(spark: SparkSession) -> None:
    totals = spark.createDataFrame(
        [("adv-a", Decimal("999.5")), ("adv-b", Decimal("70"))],
        "advertiser string, total_net_spend decimal(18,6)",
    )
    rows = top_spenders(serving_status(spark), totals, limit=2).collect()
    assert [(r.advertiser, r.budget_used_percent, r.can_serve) for r in rows] == [
        ("adv-a", Decimal("120.0"), False),
        ("adv-b", Decimal("25.0"), True),
    ]
    assert rows[0].total_net_spend == Decimal("999.5")


def test_channel_credit_has_one_column_per_model(spark: SparkSession) -> None:
    comparison = spark.createDataFrame(
        [("Search", "linear", 1.25), ("Search", "markov", 0.5), ("Email", "linear", 0.75)],
        "channel string, model string, conversions double",
    )
    rows = channel_credit_by_model(comparison).collect()
    assert rows[0].asDict() == {"channel": "Email", **dict.fromkeys(MODELS), "linear": 0.8}
    assert (rows[1].channel, rows[1].linear, rows[1].markov) == ("Search", 1.3, 0.5)
