"""The pipeline's views: typed per-event-type views of Silver; the original pipeline's Gold
views over gold_advertiser_spend (and gold_serving_status, for the serving status now), under
our names and, renamed, under the original names and columns (HourlySpend, ...).

Views cost nothing to keep fresh and always agree with their tables. On Databricks they live in
Unity Catalog; locally the catalog lasts one Spark session, so every session recreates them
(`ensure_views`, called by provisioning).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.attribution.models import MODELS
from ad_marketing_pipeline.attribution.tables import model_view_name
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.tables import sql_string


@dataclass(frozen=True)
class EventTypeView:
    """A view of silver_ad_events holding one event type with that type's columns."""

    key: TableKey
    event_type: str


SILVER_EVENT_TYPE_VIEWS = (
    EventTypeView(TableKey.SILVER_AD_CLICKS, "ad_click"),
    EventTypeView(TableKey.SILVER_IMPRESSIONS, "impression"),
    EventTypeView(TableKey.SILVER_CONVERSIONS, "conversion"),
    EventTypeView(TableKey.SILVER_CONVERSION_CANCELLATIONS, "conversion_cancellation"),
    EventTypeView(TableKey.SILVER_CLICK_REFUNDS, "click_refund"),
    EventTypeView(TableKey.SILVER_BUDGET_UPDATES, "budget_update"),
    EventTypeView(TableKey.SILVER_PAGE_VIEWS, "page_view"),
)
# Columns every typed view keeps besides the event type's own fields.
_VIEW_LEADING_COLUMNS = ("event_id", "event_time")
_VIEW_TRAILING_COLUMNS = (
    "extra_fields",
    "source_kind",
    "ingested_at",
    "processed_at",
    "ingest_year",
    "ingest_month",
    "ingest_day",
    "ingest_hour",
)


def event_type_view_columns(event_type: str) -> list[str]:
    """The view's columns: id and time, the type's contract fields, then lineage columns."""
    own = [
        name
        for name in contract.EVENT_MODELS[event_type].model_fields
        if name not in ("event_type", "event_id", "timestamp")
    ]
    return [*_VIEW_LEADING_COLUMNS, *own, *_VIEW_TRAILING_COLUMNS]


def create_event_type_view_sql(view_name: str, silver_table: str, view: EventTypeView) -> str:
    """`CREATE OR REPLACE VIEW` of one event type over silver_ad_events."""
    columns = ", ".join(f"`{name}`" for name in event_type_view_columns(view.event_type))
    return (
        f"CREATE OR REPLACE VIEW {view_name}\n"
        f"COMMENT {sql_string(f'Silver {view.event_type} events with their typed columns.')}\n"
        f"AS SELECT {columns}\nFROM {silver_table}\n"
        f"WHERE event_type = {sql_string(view.event_type)}"
    )


def event_type_views_sql(config: PipelineConfig) -> dict[str, str]:
    """The per-event-type views of silver_ad_events: view name -> its DDL."""
    silver_table = config.table(TableKey.SILVER_EVENTS)
    return {
        config.table(view.key): create_event_type_view_sql(
            config.table(view.key), silver_table, view
        )
        for view in SILVER_EVENT_TYPE_VIEWS
    }


# ---------------------------------------------------------------------------------------------
# Gold: the original pipeline's views, with the same meaning
# ---------------------------------------------------------------------------------------------


def gold_views_sql(config: PipelineConfig) -> dict[str, str]:
    """The Gold views over gold_advertiser_spend: view name -> its DDL, in creation order."""
    spend = config.table(TableKey.GOLD_ADVERTISER_SPEND)
    serving_status = config.table(TableKey.GOLD_LATEST_SERVING_STATUS)
    status = config.table(TableKey.GOLD_SERVING_STATUS)
    bodies = {
        TableKey.GOLD_HOURLY_SPEND: (
            "Advertiser x hour: gross and net spend and clicks (HourlySpend).",
            f"""SELECT advertiser, advertiser_id, advertiser_key, spend_hour, window_start,
  window_end, spend_day, gross_spend, net_spend, record_count AS clicks, budget_value, can_serve
FROM {spend}""",
        ),
        TableKey.GOLD_DAILY_SPEND: (
            "Advertiser x day (budget time zone): gross and net spend and clicks (DailySpend).",
            f"""SELECT max(advertiser) AS advertiser, max(advertiser_id) AS advertiser_id,
  advertiser_key, spend_day,
  sum(gross_spend) AS gross_spend, sum(net_spend) AS net_spend, sum(record_count) AS clicks,
  max_by(budget_value, window_start) AS budget_value, max_by(can_serve, window_start) AS can_serve
FROM {spend} GROUP BY advertiser_key, spend_day""",
        ),
        TableKey.GOLD_MONTHLY_SPEND: (
            "Advertiser x month: gross and net spend and clicks (MonthlySpend).",
            f"""SELECT max(advertiser) AS advertiser, max(advertiser_id) AS advertiser_id,
  advertiser_key, spend_month,
  sum(gross_spend) AS gross_spend, sum(net_spend) AS net_spend, sum(record_count) AS clicks,
  max_by(budget_value, window_start) AS budget_value
FROM {spend} GROUP BY advertiser_key, spend_month""",
        ),
        TableKey.GOLD_LATEST_SERVING_STATUS: (
            "Per advertiser: may it serve now, and its spend of the current budget period, as of "
            "'now' (the newest event the serving stream processed, none counting past its "
            "arrival); a new budget period re-opens serving (LatestServingStatus).",
            f"""SELECT advertiser, advertiser_id, advertiser_key, latest_hour,
  can_serve AS latest_can_serve, budget_value, spend_to_date, current_period_start, as_of
FROM {status}""",
        ),
        TableKey.GOLD_LATEST_CHANGED_BUDGETS: (
            "Per advertiser: its latest budget change, the hour the budget in effect last "
            "changed and the budget from then on (LatestChangedBudgets). Every change: "
            "gold_advertiser_spend WHERE budget_changed.",
            f"""SELECT max(advertiser) AS advertiser, max(advertiser_id) AS advertiser_id,
  advertiser_key, max(spend_hour) AS spend_hour, max(window_start) AS window_start,
  max_by(budget_value, window_start) AS budget_value
FROM {spend} WHERE budget_changed GROUP BY advertiser_key""",
        ),
        TableKey.GOLD_HOURLY_AVERAGE_BUDGET: (
            "Advertiser x hour: the average budget value seen (HourlyAverageBudget).",
            f"""SELECT advertiser, advertiser_id, advertiser_key, spend_hour, window_start,
  coalesce(avg_budget, budget_value) AS avg_budget
FROM {spend}""",
        ),
        TableKey.GOLD_COMBINED_SPEND_BUDGET: (
            "Advertiser x day x category: the day's gross spend and its budget, one row each "
            "(CombinedSpendBudget).",
            f"""SELECT max(advertiser) AS advertiser, advertiser_key, spend_day,
  'spend' AS category, sum(gross_spend) AS amount
FROM {spend} GROUP BY advertiser_key, spend_day
UNION ALL
SELECT max(advertiser) AS advertiser, advertiser_key, spend_day, 'budget' AS category,
  CAST(max_by(budget_value, window_start) AS DECIMAL(38, 6)) AS amount
FROM {spend} GROUP BY advertiser_key, spend_day""",
        ),
        TableKey.GOLD_AGGREGATED_ADVERTISER_SPEND: (
            "Per advertiser: totals, latest budget, latest activity and serving status now "
            "(null until the serving stream has seen the advertiser) (AggregatedAdvertiserSpend).",
            f"""SELECT max(s.advertiser) AS advertiser, max(s.advertiser_id) AS advertiser_id,
  s.advertiser_key,
  sum(s.gross_spend) AS total_gross_spend, sum(s.net_spend) AS total_net_spend,
  sum(s.record_count) AS total_clicks,
  max_by(s.budget_value, s.window_start) AS latest_budget_value,
  max(s.latest_event_time) AS latest_activity_time,
  first(st.latest_can_serve) AS current_serving_status
FROM {spend} s LEFT JOIN {serving_status} st ON s.advertiser_key = st.advertiser_key
GROUP BY s.advertiser_key""",
        ),
    }
    return {
        config.table(key): (
            f"CREATE OR REPLACE VIEW {config.table(key)}\nCOMMENT {sql_string(comment)}\nAS {body}"
        )
        for key, (comment, body) in bodies.items()
    }


# ---------------------------------------------------------------------------------------------
# The original pipeline's views under their own names and columns
# ---------------------------------------------------------------------------------------------

# Seed view -> (the view of ours it renames, its columns as `our column AS original name`).
# Each is a projection of one of our views, so a business rule stays defined in one place.
SEED_VIEWS: dict[TableKey, tuple[TableKey, str]] = {
    TableKey.SEED_HOURLY_SPEND: (
        TableKey.GOLD_HOURLY_SPEND,
        """advertiser, advertiser_id, advertiser_key,
  window_start AS spend_hour_start, window_end AS spend_hour_end, spend_day,
  gross_spend AS hourly_gross_spend, net_spend AS hourly_net_spend, clicks AS total_clicks,
  budget_value, can_serve AS can_serve_status""",
    ),
    TableKey.SEED_DAILY_SPEND: (
        TableKey.GOLD_DAILY_SPEND,
        """advertiser, advertiser_id, advertiser_key, spend_day,
  gross_spend AS daily_gross_spend, net_spend AS daily_net_spend, clicks AS total_clicks,
  budget_value, can_serve AS can_serve_status""",
    ),
    TableKey.SEED_MONTHLY_SPEND: (
        TableKey.GOLD_MONTHLY_SPEND,
        """advertiser, advertiser_id, advertiser_key, spend_month,
  gross_spend AS monthly_gross_spend, net_spend AS monthly_net_spend, clicks AS total_clicks,
  budget_value""",
    ),
    TableKey.SEED_LATEST_SERVING_STATUS: (
        TableKey.GOLD_LATEST_SERVING_STATUS,
        """advertiser, advertiser_id, advertiser_key, latest_hour,
  latest_can_serve AS can_serve_status, budget_value, spend_to_date, current_period_start,
  as_of""",
    ),
    TableKey.SEED_LATEST_CHANGED_BUDGETS: (
        TableKey.GOLD_LATEST_CHANGED_BUDGETS,
        """advertiser, advertiser_id, advertiser_key,
  window_start AS spend_hour_start, budget_value""",
    ),
    TableKey.SEED_HOURLY_AVERAGE_BUDGET: (
        TableKey.GOLD_HOURLY_AVERAGE_BUDGET,
        """advertiser, advertiser_id, advertiser_key,
  window_start AS spend_hour_start, avg_budget""",
    ),
    TableKey.SEED_COMBINED_SPEND_BUDGET: (
        TableKey.GOLD_COMBINED_SPEND_BUDGET,
        "advertiser, advertiser_key, spend_day, category, amount",
    ),
    TableKey.SEED_AGGREGATED_ADVERTISER_SPEND: (
        TableKey.GOLD_AGGREGATED_ADVERTISER_SPEND,
        """advertiser, advertiser_id, advertiser_key, total_gross_spend, total_net_spend,
  total_clicks, latest_budget_value, latest_activity_time, current_serving_status""",
    ),
}


def seed_views_sql(config: PipelineConfig) -> dict[str, str]:
    """The original pipeline's Gold views (HourlySpend, ...) with its column names, each a
    renaming projection of one of ours: view name -> its DDL. Create after `gold_views_sql`."""
    return {
        config.table(key): (
            f"CREATE OR REPLACE VIEW {config.table(key)}\n"
            f"COMMENT {sql_string(f'The original pipeline view over {config.table(ours)}.')}\n"
            f"AS SELECT {columns}\nFROM {config.table(ours)}"
        )
        for key, (ours, columns) in SEED_VIEWS.items()
    }


def attribution_views_sql(config: PipelineConfig) -> dict[str, str]:
    """One view of gold_attribution per model (`gold_attribution_<model>`): name -> its DDL."""
    attribution = config.table(TableKey.GOLD_ATTRIBUTION)
    return {
        model_view_name(config, model): (
            f"CREATE OR REPLACE VIEW {model_view_name(config, model)}\n"
            f"COMMENT {sql_string(f'Attribution by the {model} model.')}\n"
            f"AS SELECT * FROM {attribution} WHERE model = {sql_string(model)}"
        )
        for model in MODELS
    }


def ensure_views(spark: SparkSession, config: PipelineConfig) -> list[str]:
    """Create or replace the views whose tables exist; returns the views' names."""
    views: dict[str, str] = {}
    if spark.catalog.tableExists(config.table(TableKey.SILVER_EVENTS)):
        views.update(event_type_views_sql(config))
    gold_tables = (
        config.table(TableKey.GOLD_ADVERTISER_SPEND),
        config.table(TableKey.GOLD_SERVING_STATUS),
    )
    if all(spark.catalog.tableExists(table) for table in gold_tables):
        views.update(gold_views_sql(config))
        views.update(seed_views_sql(config))
    if spark.catalog.tableExists(config.table(TableKey.GOLD_ATTRIBUTION)):
        views.update(attribution_views_sql(config))
    for ddl in views.values():
        spark.sql(ddl)
    return list(views)
