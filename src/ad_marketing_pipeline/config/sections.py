"""The configuration's sections other than the source: table names, paths, trigger, budget
policy, data quality limits, attribution, the serving stream, ops tables, fault injection and the
local Spark session."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from ad_marketing_pipeline.config.base import Identifier, _Frozen


class TableNames(_Frozen):
    """Table names inside the configured catalog and schema (the layer is the name prefix)."""

    bronze_events: Identifier = "bronze_ad_events"
    silver_events: Identifier = "silver_ad_events"
    silver_quarantine: Identifier = "silver_quarantine"
    # Views of silver_ad_events, one per event type, with that type's columns only.
    silver_ad_clicks: Identifier = "silver_ad_clicks"
    silver_impressions: Identifier = "silver_impressions"
    silver_conversions: Identifier = "silver_conversions"
    silver_conversion_cancellations: Identifier = "silver_conversion_cancellations"
    silver_click_refunds: Identifier = "silver_click_refunds"
    silver_budget_updates: Identifier = "silver_budget_updates"
    silver_page_views: Identifier = "silver_page_views"
    ops_streaming_progress: Identifier = "ops_streaming_progress"
    ops_data_quality: Identifier = "ops_data_quality"
    ops_dead_letters: Identifier = "ops_dead_letters"
    gold_advertisers: Identifier = "gold_advertisers"
    gold_advertiser_spend: Identifier = "gold_advertiser_spend"
    gold_hourly_spend: Identifier = "gold_hourly_spend"
    gold_daily_spend: Identifier = "gold_daily_spend"
    gold_monthly_spend: Identifier = "gold_monthly_spend"
    gold_serving_advertisers: Identifier = "gold_serving_advertisers"
    gold_serving_status: Identifier = "gold_serving_status"
    gold_latest_serving_status: Identifier = "gold_latest_serving_status"
    gold_latest_changed_budgets: Identifier = "gold_latest_changed_budgets"
    gold_hourly_average_budget: Identifier = "gold_hourly_average_budget"
    gold_combined_spend_budget: Identifier = "gold_combined_spend_budget"
    gold_aggregated_advertiser_spend: Identifier = "gold_aggregated_advertiser_spend"
    gold_fact_conversions: Identifier = "gold_fact_conversions"
    gold_fact_ad_performance: Identifier = "gold_fact_ad_performance"
    gold_sessions: Identifier = "gold_sessions"
    gold_touchpoints: Identifier = "gold_touchpoints"
    gold_conversion_paths: Identifier = "gold_conversion_paths"
    gold_attribution: Identifier = "gold_attribution"
    gold_attribution_daily: Identifier = "gold_attribution_daily"
    gold_channel_spend_daily: Identifier = "gold_channel_spend_daily"
    gold_attribution_comparison: Identifier = "gold_attribution_comparison"
    gold_channel_performance: Identifier = "gold_channel_performance"
    # The original pipeline's Gold views under their own names and columns (views.seed_views_sql),
    # so that its queries and dashboards keep working next to ours.
    seed_hourly_spend: Identifier = "HourlySpend"
    seed_daily_spend: Identifier = "DailySpend"
    seed_monthly_spend: Identifier = "MonthlySpend"
    seed_latest_serving_status: Identifier = "LatestServingStatus"
    seed_latest_changed_budgets: Identifier = "LatestChangedBudgets"
    seed_hourly_average_budget: Identifier = "HourlyAverageBudget"
    seed_combined_spend_budget: Identifier = "CombinedSpendBudget"
    seed_aggregated_advertiser_spend: Identifier = "AggregatedAdvertiserSpend"


class TableKey(StrEnum):
    """The key of each table and view in `tables` (TableNames), for `PipelineConfig.table`:
    a misspelled key fails at import or type-check time, not when its line runs."""

    BRONZE_EVENTS = "bronze_events"
    SILVER_EVENTS = "silver_events"
    SILVER_QUARANTINE = "silver_quarantine"
    SILVER_AD_CLICKS = "silver_ad_clicks"
    SILVER_IMPRESSIONS = "silver_impressions"
    SILVER_CONVERSIONS = "silver_conversions"
    SILVER_CONVERSION_CANCELLATIONS = "silver_conversion_cancellations"
    SILVER_CLICK_REFUNDS = "silver_click_refunds"
    SILVER_BUDGET_UPDATES = "silver_budget_updates"
    SILVER_PAGE_VIEWS = "silver_page_views"
    OPS_STREAMING_PROGRESS = "ops_streaming_progress"
    OPS_DATA_QUALITY = "ops_data_quality"
    OPS_DEAD_LETTERS = "ops_dead_letters"
    GOLD_ADVERTISERS = "gold_advertisers"
    GOLD_ADVERTISER_SPEND = "gold_advertiser_spend"
    GOLD_HOURLY_SPEND = "gold_hourly_spend"
    GOLD_DAILY_SPEND = "gold_daily_spend"
    GOLD_MONTHLY_SPEND = "gold_monthly_spend"
    GOLD_SERVING_ADVERTISERS = "gold_serving_advertisers"
    GOLD_SERVING_STATUS = "gold_serving_status"
    GOLD_LATEST_SERVING_STATUS = "gold_latest_serving_status"
    GOLD_LATEST_CHANGED_BUDGETS = "gold_latest_changed_budgets"
    GOLD_HOURLY_AVERAGE_BUDGET = "gold_hourly_average_budget"
    GOLD_COMBINED_SPEND_BUDGET = "gold_combined_spend_budget"
    GOLD_AGGREGATED_ADVERTISER_SPEND = "gold_aggregated_advertiser_spend"
    GOLD_FACT_CONVERSIONS = "gold_fact_conversions"
    GOLD_FACT_AD_PERFORMANCE = "gold_fact_ad_performance"
    GOLD_SESSIONS = "gold_sessions"
    GOLD_TOUCHPOINTS = "gold_touchpoints"
    GOLD_CONVERSION_PATHS = "gold_conversion_paths"
    GOLD_ATTRIBUTION = "gold_attribution"
    GOLD_ATTRIBUTION_DAILY = "gold_attribution_daily"
    GOLD_CHANNEL_SPEND_DAILY = "gold_channel_spend_daily"
    GOLD_ATTRIBUTION_COMPARISON = "gold_attribution_comparison"
    GOLD_CHANNEL_PERFORMANCE = "gold_channel_performance"
    SEED_HOURLY_SPEND = "seed_hourly_spend"
    SEED_DAILY_SPEND = "seed_daily_spend"
    SEED_MONTHLY_SPEND = "seed_monthly_spend"
    SEED_LATEST_SERVING_STATUS = "seed_latest_serving_status"
    SEED_LATEST_CHANGED_BUDGETS = "seed_latest_changed_budgets"
    SEED_HOURLY_AVERAGE_BUDGET = "seed_hourly_average_budget"
    SEED_COMBINED_SPEND_BUDGET = "seed_combined_spend_budget"
    SEED_AGGREGATED_ADVERTISER_SPEND = "seed_aggregated_advertiser_spend"


if {key.value for key in TableKey} != set(TableNames.model_fields):
    raise RuntimeError("TableKey and TableNames must name the same tables")


class PathsConfig(_Frozen):
    """Where the pipeline keeps its files. Relative paths are under `root`; `root` itself is
    relative to the working directory unless absolute or a URI (`dbfs:/`, `abfss://`, ...)."""

    root: str = ".pipeline"
    warehouse: str = "warehouse"
    landing: str = "landing"
    checkpoints: str = "checkpoints"


class TriggerConfig(_Frozen):
    """`available_now` processes what is there and stops (schedules); `processing_time` runs on."""

    mode: Literal["available_now", "processing_time"] = "available_now"
    processing_time: str = Field(
        default="1 minute",
        description="micro-batch interval of continuous runs (the serving stream has its own, "
        "serving.processing_time): Silver and Gold cost seconds per micro-batch whatever its "
        "size, so batching every minute leaves the CPU to the serving stream",
    )
    max_files_per_batch: PositiveInt = Field(
        default=1000,
        description="most Delta files one micro-batch of a table-to-table stream (Silver, Gold, "
        "attribution) reads; bounds a batch's memory after a long pause",
    )
    max_bytes_per_batch: str = Field(
        default="16m",
        description="about the most bytes of Delta files (compressed, as stored) one "
        "micro-batch of a table-to-table stream reads, at least one file: 16m is about 250,000 "
        "Bronze records, so a backlog of millions is read in batches the default 2 GB driver "
        "holds (tables are written in files of at most 100,000 rows)",
    )

    @field_validator("processing_time")
    @classmethod
    def _interval(cls, value: str) -> str:
        return checked_interval(value)

    @field_validator("max_bytes_per_batch")
    @classmethod
    def _size(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*[kmg]?", value.strip().lower()):
            raise ValueError("expected a size such as 16m, 512k or 1g")
        return value.strip().lower()


def checked_interval(value: str) -> str:
    """A Spark processing-time interval ('10 seconds', '1 minute'), stripped."""
    if not re.fullmatch(r"\d+\s+(milliseconds?|seconds?|minutes?|hours?)", value.strip()):
        raise ValueError("expected an interval such as '10 seconds' or '1 minute'")
    return value.strip()


class BudgetPolicy(_Frozen):
    """How budgets apply: per day or month, in a time zone; and what no known budget means."""

    period: Literal["day", "month"] = "day"
    timezone: str = "UTC"
    missing_budget: Literal["serve", "block"] = Field(
        default="serve",
        description="serve: an advertiser with no known budget can serve; block: it cannot",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "expected an IANA time zone such as 'UTC' or 'Europe/Berlin'"
            ) from None
        return value


class QualityConfig(_Frozen):
    """Silver's validation limits. Time limits judge an event's timestamp against when the
    record was received (broker / enqueued time, else Bronze's ingest time), never against when
    a layer happens to run, so a record gets the same verdict in every run and every layer."""

    max_future_skew_minutes: NonNegativeInt = 15
    max_event_age_days: PositiveInt | None = Field(
        default=None, description="older events are quarantined; null keeps any age"
    )
    earliest_event_time: datetime = Field(
        default=datetime(2000, 1, 1, tzinfo=UTC),
        description="events stamped before this are quarantined (timestamp_too_old): a year-1 "
        "timestamp is a broken clock, not history",
    )
    max_payload_bytes: PositiveInt = 102_400
    duplicate_window_days: NonNegativeInt = Field(
        default=1,
        description="a record is checked for being a copy of a stored event against the Silver "
        "events stamped on its own UTC day and this many days either side, so the check reads "
        "the days a batch touches, not all of history; a copy in a later batch whose timestamp "
        "is more whole days from the stored event's is stored as an event of its own",
    )
    max_amount: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(100_000),
        description="largest cost of one click or impression, or one refund, accepted "
        "(value_out_of_range above it)",
    )
    max_revenue: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(1_000_000_000), description="largest revenue of one conversion accepted"
    )
    max_budget_value: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(100_000_000_000), description="largest budget value accepted"
    )

    @field_validator("earliest_event_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("max_amount", "max_revenue", "max_budget_value")
    @classmethod
    def _fits_money(cls, value: Decimal) -> Decimal:
        if value >= Decimal(10) ** 12:
            raise ValueError("must be below 10^12, the largest value DECIMAL(18, 6) holds")
        return value


class ChannelRule(_Frozen):
    """Maps touches whose source/medium/platform match these regexes (case-insensitive) to a
    channel. User rules are tried before the default grouping."""

    channel: Annotated[str, Field(min_length=1)]
    source: str | None = None
    medium: str | None = None
    platform: str | None = None

    @model_validator(mode="after")
    def _has_matcher(self) -> ChannelRule:
        patterns = [p for p in (self.source, self.medium, self.platform) if p is not None]
        if not patterns:
            raise ValueError("a channel rule needs at least one of source, medium, platform")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{pattern!r} is not a valid regex: {error}") from None
        return self


class AttributionConfig(_Frozen):
    """Sessions, conversion paths and attribution models."""

    lookback_days: PositiveInt = 14
    session_timeout_minutes: PositiveInt = 30
    time_decay_half_life_days: PositiveFloat = 7.0
    position_based_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    max_path_length: PositiveInt | None = None
    collapse_repeated_channels: bool = True
    drop_direct_unless_only: bool = False
    markov_window_days: PositiveInt = 90
    channel_rules: list[ChannelRule] = Field(default_factory=list)

    @field_validator("position_based_weights")
    @classmethod
    def _weights_sum_to_one(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(weight < 0 for weight in value) or abs(sum(value) - 1.0) > 1e-9:
            raise ValueError(
                "expected three non-negative weights (first, middle, last) summing to 1"
            )
        return value


class ServingConfig(_Frozen):
    """The serving stream (source -> gold_serving_status, `run --layers serving`)."""

    state_partitions: PositiveInt = Field(
        default=1,
        description="partitions of its click de-duplication state and aggregation; fixed at "
        "the stream's first start (Spark keeps it in the checkpoint). One keeps its "
        "micro-batches short; raise it when one task cannot keep up with the click rate",
    )
    processing_time: str = Field(
        default="1 second",
        description="its micro-batch interval in continuous runs, whatever trigger.processing_time "
        "says for the other layers: can_serve is as fresh as this stream's batches (a batch "
        "longer than the interval is followed by the next at once)",
    )

    @field_validator("processing_time")
    @classmethod
    def _interval(cls, value: str) -> str:
        return checked_interval(value)


class OpsConfig(_Frozen):
    """The operations tables."""

    retention_days: PositiveInt = Field(
        default=30,
        description="ops_streaming_progress rows older than this are deleted when a run starts, "
        "hourly while it runs, and by the maintenance job; `ad-pipeline status` reads this "
        "window",
    )


class FaultsConfig(_Frozen):
    """Fault injection for the pipeline's own crash tests; never set it in production."""

    kill_at_write: str | None = Field(
        default=None,
        description="'<layer>:<n>': the process kills itself (SIGKILL, its process group) "
        "before the n-th write (from 1) of that layer's first micro-batch that makes n writes; "
        "n = writes + 1 kills after the batch's last write, before its checkpoint commit",
    )
    action: Literal["kill", "raise"] = Field(
        default="kill",
        description="kill: SIGKILL as a crash does; raise: fail the micro-batch with an error "
        "instead (its stream stops; the next run replays the batch), for tests in one process",
    )

    @field_validator("kill_at_write")
    @classmethod
    def _point(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z_]+:[1-9][0-9]*", value):
            raise ValueError("expected '<layer>:<n>', e.g. 'gold:2'")
        return value


class SparkSettings(_Frozen):
    """The local Spark session (ignored on Databricks, which provides its own)."""

    master: str = "local[*]"
    app_name: str = "ad-marketing-pipeline"
    shuffle_partitions: PositiveInt = 4
    driver_memory: str = "2g"
    jars_dir: str | None = Field(
        default=".jars/spark",
        description="folder of the Delta and Kafka jars (`make jars`); when missing, Spark "
        "downloads the same Maven coordinates itself",
    )
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "WARN"
    conf: dict[str, str] = Field(default_factory=dict, description="extra spark.* settings")
