"""The serving stream's I/O edge: source -> gold_serving_status, one small write per micro-batch.

It reads the source itself (Kafka, Event Hubs or landing files, with a checkpoint of its own) and
validates records with Silver's rules, so a click reaches `can_serve` in one hop. Silver, Gold
and the serving stream apply the same contract; Gold keeps the hourly history, this table only
the present (see serving.py).

The table has one row per advertiser, so each micro-batch reads it whole, folds its partial
states into the rows they touch and writes it back whole: one Delta commit, cheaper than a
MERGE's join.

Exactly once: clicks are de-duplicated by the stream's state (bounded by a watermark of one
budget period), and the write is idempotent per (stream, batch id): Delta skips a batch it has
already committed, so a batch re-run after a crash changes nothing twice. Rows written by another
checkpoint's stream would count events twice, so the batch refuses to run instead: delete the
table together with the checkpoint (the stream rebuilds the status from what the source still
holds), never one without the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import BudgetPolicy, PipelineConfig
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.gold.layer import save_names
from ad_marketing_pipeline.gold.serving import (
    ServingState,
    batch_partials,
    fold_batch,
    stand_ins_among,
)
from ad_marketing_pipeline.gold.spend import learn_names
from ad_marketing_pipeline.gold.tables import SERVING_STATUS_SCHEMA
from ad_marketing_pipeline.io import local_frame
from ad_marketing_pipeline.ops import is_spark_connect


def streaming_query_id(spark: SparkSession) -> str | None:
    """Id of the streaming query running this micro-batch (it survives restarts from the same
    checkpoint), or None where the driver cannot see it (Spark Connect)."""
    if is_spark_connect(spark):
        return None
    return spark.sparkContext.getLocalProperty("sql.streaming.queryId")


def check_same_stream(rows: Sequence[Row], query_id: str | None, table: str) -> None:
    """Raise when `table`'s rows were written by another serving stream (another checkpoint)."""
    others = {row["serving_query_id"] for row in rows} - {query_id, None}
    if query_id is not None and others:
        raise PipelineError(
            f"{table} was written by another serving stream (query id {min(others)}), that is "
            "from another checkpoint: its rows would count events twice. Delete the table "
            "together with the serving checkpoint (the stream rebuilds the status from the "
            "source), or restore the checkpoint."
        )


def state_of(row: Row | Mapping[str, Any], names: Mapping[str, str]) -> ServingState:
    """A partial-state row (batch_partials) or a table row as a ServingState; a partial that
    names only its advertiser's id counts for the name known for it (the id until then)."""
    advertiser = row["advertiser"] or names.get(row["advertiser_id"], row["advertiser_id"])
    order = row["budget_order"]
    return ServingState(
        advertiser=advertiser,
        advertiser_id=row["advertiser_id"],
        period_start=row["period_start"],
        spend_to_date=row["spend_to_date"],
        clicks=row["clicks"],
        budget_value=row["budget_value"],
        budget_order=None if order is None else (order[0], order[1], order[2]),
        latest_hour=row["latest_hour"],
        latest_event_time=row["latest_event_time"],
    )


def status_row(
    state: ServingState, policy: BudgetPolicy, stamp: Mapping[str, Any]
) -> dict[str, Any]:
    """The table row of a state, with can_serve and the writing batch's `stamp`."""
    return {
        "advertiser": state.advertiser,
        "advertiser_id": state.advertiser_id,
        "period_start": state.period_start,
        "spend_to_date": state.spend_to_date,
        "clicks": state.clicks,
        "budget_value": state.budget_value,
        "budget_order": state.budget_order,  # (event_time, rank, event_id)
        "latest_hour": state.latest_hour,
        "latest_event_time": state.latest_event_time,
        "can_serve": state.can_serve(policy),
        **stamp,
    }


@dataclass
class ServingWriter:
    """The serving micro-batch writer (foreachBatch): learn names, fold the batch into the
    status, write it.

    Only this stream writes its two tables, so they are read at its first batch and then kept
    in memory: a table read costs a Spark job per batch, a dictionary nothing. A failed batch
    stops the query; a restart builds a new writer, which reads them again and skips the
    batches whose write the table already holds (a crash between the write and the
    checkpoint's commit re-runs the batch). Names are saved before the status: a batch re-run
    after saving them and before its write still moves the rows kept under an id whose name it
    learned, found from the rows themselves (`stand_ins_among`)."""

    config: PipelineConfig
    current: dict[str, dict[str, Any]] = field(default_factory=dict)
    known_names: dict[str, str] = field(default_factory=dict)
    last_written: int | None = None  # None: not started

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        query_id = streaming_query_id(spark)
        status_table = self.config.table("gold_serving_status")
        names_table = self.config.table("gold_serving_advertisers")
        if self.last_written is None:
            self._start(spark, query_id)
        assert self.last_written is not None
        if batch_id <= self.last_written:
            return  # written before a crash; its names were saved before that
        partials = batch.transform(batch_partials(self.config.budget)).collect()
        seen = [
            (row["advertiser_id"], row["advertiser"])
            for row in partials
            if row["advertiser"] is not None and row["advertiser_id"] is not None
        ]
        learned, stand_ins = learn_names(self.known_names, seen)
        save_names(spark, learned, names_table)
        self.known_names.update(learned)
        current = {key: state_of(row, self.known_names) for key, row in self.current.items()}
        changed, removed = fold_batch(
            current,
            [state_of(row, self.known_names) for row in partials if row["observed"]],
            {**stand_ins_among(current, self.known_names), **stand_ins},
        )
        if not changed and not removed:
            return
        stamp = {
            "serving_query_id": query_id,
            "serving_batch_id": batch_id,
            "updated_at": datetime.now(UTC).replace(tzinfo=None),
        }
        rows = {key: row for key, row in self.current.items() if key not in removed}
        policy = self.config.budget
        rows.update({key: status_row(state, policy, stamp) for key, state in changed.items()})
        now = {
            # The newest event's period is the newest period: period_start grows with time.
            "as_of": max(row["latest_event_time"] for row in rows.values()),
            "current_period_start": max(row["period_start"] for row in rows.values()),
        }
        rows = {key: {**row, **now} for key, row in rows.items()}
        (
            local_frame(spark, [rows[key] for key in sorted(rows)], SERVING_STATUS_SCHEMA)
            .coalesce(1)  # one small file: one write task, and one file for readers to open
            .writeTo(status_table)
            .option("txnAppId", f"{status_table}/serving/{query_id}")
            .option("txnVersion", batch_id)
            .overwrite(F.lit(True))
        )
        self.current, self.last_written = rows, batch_id

    def _start(self, spark: SparkSession, query_id: str | None) -> None:
        status_table = self.config.table("gold_serving_status")
        rows = spark.table(status_table).collect()
        check_same_stream(rows, query_id, status_table)
        self.current = {row["advertiser"]: row.asDict() for row in rows}
        names = spark.table(self.config.table("gold_serving_advertisers")).collect()
        self.known_names = {row["advertiser_id"]: row["advertiser_name"] for row in names}
        written = [row["serving_batch_id"] for row in rows if row["serving_query_id"] == query_id]
        self.last_written = max(written, default=-1)
