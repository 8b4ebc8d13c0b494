"""The budget rules, each written once in the two forms the pipeline evaluates them in: as Spark
columns (Gold, over Silver's history) and as Python values (the serving stream, which folds a
few rows per advertiser on the driver). The SQL views only read the columns Gold and the
serving stream store. tests/unit/test_budget_rules.py checks that both forms of each rule agree.

- the budget in effect is the newest budget observation by `budget_order`: event time, then a
  budget update before a click's budget value, then the order of arrival, then event id;
- `can_serve` is spend_to_date < budget_value; with no known budget, the `missing_budget`
  policy decides (`serve` or `block`).

The budget period an instant belongs to (day or month in the budget's time zone) is one Spark
expression, `spend.local_hour_columns`, which both Gold and the serving stream use.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy

BUDGET_UPDATE_RANK = 2  # a budget update outranks a click's budget at the same instant
CLICK_BUDGET_RANK = 1
# The fields of a budget observation's order, most significant first.
BUDGET_ORDER_FIELDS = ("event_time", "rank", "received_at", "file_path", "partition", "offset")

# A budget order as the driver holds it: the values of BUDGET_ORDER_FIELDS, then event_id.
BudgetOrder = tuple[Any, ...]


def budget_order(rank: Column) -> Column:
    """How budget observations order (the last one is in effect), as a struct Spark compares
    field by field: event time, `rank` (BUDGET_UPDATE_RANK or CLICK_BUDGET_RANK), when and
    where it was received, then event id. Silver rows and the serving stream's events both
    carry these columns."""
    fields = [
        (rank.cast("int") if name == "rank" else F.col(name)).alias(name)
        for name in BUDGET_ORDER_FIELDS
    ]
    return F.struct(*fields, F.col("event_id").alias("event_id"))


def order_key(order: BudgetOrder | None) -> tuple[tuple[bool, Any], ...]:
    """A budget order (a `budget_order` struct's values) as Spark compares structs: field by
    field, nulls first; no order at all before any."""
    if order is None:
        return ()
    return tuple((value is not None, value) for value in order)


def can_serve_column(spend_to_date: Column, budget_value: Column, policy: BudgetPolicy) -> Column:
    """`can_serve` as a column (Gold's hours)."""
    no_budget_serves = F.lit(policy.missing_budget == "serve")
    return F.when(budget_value.isNull(), no_budget_serves).otherwise(spend_to_date < budget_value)


def can_serve_value(
    spend_to_date: Decimal, budget_value: Decimal | None, policy: BudgetPolicy
) -> bool:
    """`can_serve` of one advertiser's values (the serving stream)."""
    if budget_value is None:
        return policy.missing_budget == "serve"
    return spend_to_date < budget_value
