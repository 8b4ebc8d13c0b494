"""What the serving app asks of Gold, as SQL both readers run: the same text goes to a Databricks
SQL warehouse and, locally, to delta-rs's DataFusion engine over the Delta tables. So it keeps
to the SQL both speak (no date arithmetic, no dialect functions), and values are written into it
as literals by `string_literal` and `timestamp_literal` (tables by `{key}` placeholders).

Nothing here reads a table; `readers` runs these and hands the rows back as dicts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ad_marketing_pipeline.config import TableKey

NO_CAMPAIGN = "(none)"  # as in gold_fact_ad_performance: events without a campaign
DASHBOARD_MODELS = ("first_click", "last_click")
FEED_SIZE = 20

# The tables the queries name, by placeholder: `{silver_events}` is TableKey.SILVER_EVENTS.
QUERY_TABLES: tuple[TableKey, ...] = (
    TableKey.SILVER_EVENTS,
    TableKey.GOLD_SERVING_STATUS,
    TableKey.GOLD_FACT_CONVERSIONS,
    TableKey.GOLD_FACT_AD_PERFORMANCE,
    TableKey.GOLD_ATTRIBUTION_DAILY,
    TableKey.GOLD_CHANNEL_PERFORMANCE,
)


def string_literal(text: str) -> str:
    """A SQL string literal both engines read the same way: quotes doubled, and text with a
    backslash or a control character refused (Databricks SQL reads backslash escapes, DataFusion
    does not)."""
    if any(character == "\\" or ord(character) < 32 for character in text):
        raise ValueError(f"{text!r}: backslashes and control characters are not allowed")
    return "'" + text.replace("'", "''") + "'"


def timestamp_literal(moment: datetime) -> str:
    """An instant as a UTC timestamp literal (microseconds)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"TIMESTAMP '{utc.strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00'"


SERVING_STATUS = """
SELECT advertiser_key, advertiser, advertiser_id, can_serve, spend_to_date, budget_value,
  clicks, current_period_start, latest_event_time, as_of, updated_at
FROM {gold_serving_status}
"""


def _window(column: str, start: datetime, end: datetime) -> str:
    return f"{column} >= {timestamp_literal(start)} AND {column} < {timestamp_literal(end)}"


def _campaign(column: str, campaign_id: str | None) -> str:
    if campaign_id is None:
        return "TRUE"
    return f"coalesce({column}, '{NO_CAMPAIGN}') = {string_literal(campaign_id)}"


def report_deliveries_sql(campaign_id: str | None, start: datetime, end: datetime) -> str:
    """Impressions, clicks and their cost in [start, end), as gold_fact_ad_performance counts
    them (an impression's or click's `amount`, 0 when absent), at the events' own times."""
    return f"""
SELECT
  sum(CASE WHEN event_type = 'impression' THEN 1 ELSE 0 END) AS impressions,
  sum(CASE WHEN event_type = 'ad_click' THEN 1 ELSE 0 END) AS clicks,
  sum(coalesce(amount, 0)) AS spend
FROM {{silver_events}}
WHERE event_type IN ('ad_click', 'impression') AND {_window("event_time", start, end)}
  AND {_campaign("campaign_id", campaign_id)}
"""


def report_conversions_sql(campaign_id: str | None, start: datetime, end: datetime) -> str:
    """Conversions (not cancelled) in [start, end) and their revenue, under the campaign they
    count under in ad performance (their last click's)."""
    return f"""
SELECT count(*) AS conversions, sum(net_revenue) AS revenue
FROM {{gold_fact_conversions}}
WHERE NOT is_cancelled AND {_window("converted_at", start, end)}
  AND {_campaign("performance_campaign_id", campaign_id)}
"""


DASHBOARD_TOTALS = """
SELECT sum(impressions) AS impressions, sum(clicks) AS clicks, sum(conversions) AS conversions,
  sum(ad_spend) AS spend, sum(revenue) AS revenue, max(performance_date) AS newest_day
FROM {gold_fact_ad_performance}
"""

_MODELS = ", ".join(string_literal(model) for model in DASHBOARD_MODELS)

DASHBOARD_ATTRIBUTION_DAYS = f"""
SELECT conversion_date, model, channel, sum(exact_conversions) AS conversions,
  sum(revenue) AS revenue
FROM {{gold_attribution_daily}}
WHERE model IN ({_MODELS})
GROUP BY conversion_date, model, channel
ORDER BY conversion_date, model, channel
"""

DASHBOARD_CHANNELS = f"""
SELECT channel, model, spend, clicks, conversions, revenue
FROM {{gold_channel_performance}}
WHERE model IN ({_MODELS})
ORDER BY channel, model
"""

DASHBOARD_FEED = f"""
SELECT event_id, event_type, advertiser, advertiser_id, campaign_id, amount, event_time,
  processed_at
FROM {{silver_events}}
ORDER BY processed_at DESC, event_time DESC, event_id DESC
LIMIT {FEED_SIZE}
"""
