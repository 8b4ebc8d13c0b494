"""The serving stream: source -> gold_serving_status, one small write per micro-batch.

It reads the source itself (Kafka, Event Hubs or landing files, with a checkpoint of its own) and
validates records with Silver's rules, so a click reaches `can_serve` in one hop. Silver, Gold
and the serving stream apply the same contract; Gold keeps the hourly history, this table only
the present (see transforms.py).

The table has one row per advertiser, so each micro-batch reads it whole, folds its partial
states into the rows they touch and writes it back whole: one Delta commit, cheaper than a
MERGE's join.

Exactly once: clicks are de-duplicated by the stream's state (bounded by a watermark of one
budget period), and the write is idempotent per (stream, batch id): Delta skips a batch it has
already committed, so a batch re-run after a crash changes nothing twice. The table's rows are
the stream's own state: a new checkpoint (a lost or deleted one) re-reads the source from its
start, so its stream rebuilds the status from empty rather than count events twice on top of
the old rows (what the source no longer holds, past a Kafka retention, is then missing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession

from ad_marketing_pipeline.bronze.transforms import source_time, to_bronze
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.frames import local_frame
from ad_marketing_pipeline.gold.advertiser_pairs import read_directory, save_pairs
from ad_marketing_pipeline.gold.advertisers import AdvertiserDirectory, Identity
from ad_marketing_pipeline.gold.tables import GOLD_TABLES, SERVING_STATUS_SCHEMA
from ad_marketing_pipeline.io import MicroBatch, StreamTrigger
from ad_marketing_pipeline.ops import observe_batch
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.serving.transforms import (
    ServingState,
    batch_partials,
    fold_batch,
    serving_input,
)
from ad_marketing_pipeline.sources import source_records
from ad_marketing_pipeline.streams import Layer

log = logging.getLogger(__name__)


def state_of_row(row: Row) -> ServingState:
    """A gold_serving_status row as the state it holds."""
    order = row["budget_order"]
    return ServingState(
        key=row["advertiser_key"],
        advertiser_id=row["advertiser_id"],
        periods={
            item["period_start"]: (item["spend_to_date"], item["clicks"])
            for item in row["period_spend"] or []
        },
        budget_value=row["budget_value"],
        budget_order=None if order is None else tuple(order),
        latest_hour=row["latest_hour"],
        latest_event_time=row["latest_event_time"],
    )


def state_of_partial(row: Row, identity: Identity) -> ServingState:
    """A partial-state row (batch_partials) as a state of the advertiser `identity`."""
    order = row["budget_order"]
    return ServingState(
        key=identity.key,
        advertiser_id=identity.advertiser_id,
        periods={row["period_start"]: (row["spend_to_date"], row["clicks"])},
        budget_value=row["budget_value"],
        budget_order=None if order is None else tuple(order),
        latest_hour=row["latest_hour"],
        latest_event_time=row["latest_event_time"],
    )


def status_row(
    state: ServingState,
    directory: AdvertiserDirectory,
    config: PipelineConfig,
    now: tuple[datetime | None, datetime | None],
    stamp: Mapping[str, Any],
) -> dict[str, Any]:
    """The table row of a state: its label and id, the current period's spend, can_serve, the
    spend kept for later periods, "now" and the writing batch's `stamp`."""
    as_of, current_period = now
    label = directory.labels.get(state.key, state.key) if state.advertiser_id else state.key
    spend, clicks = state.spend_in(current_period)
    return {
        "advertiser_key": state.key,
        "advertiser": label,
        "advertiser_id": state.advertiser_id,
        "period_start": current_period,
        "spend_to_date": spend,
        "clicks": clicks,
        "budget_value": state.budget_value,
        "budget_order": state.budget_order,
        "latest_hour": state.latest_hour,
        "latest_event_time": state.latest_event_time,
        "can_serve": state.can_serve(current_period, config.budget),
        "period_spend": [
            {"period_start": start, "spend_to_date": value, "clicks": count}
            for start, (value, count) in sorted(state.periods.items())
        ],
        "as_of": as_of,
        "current_period_start": current_period,
        **stamp,
    }


@dataclass
class ServingWriter:
    """The serving micro-batch writer (foreachBatch): learn advertiser pairs, fold the batch
    into the states, write the status.

    Only this stream writes its two tables, so they are read at its first batch and then kept
    in memory: a table read costs a Spark job per batch, a dictionary nothing. A failed batch
    stops the query; a restart builds a new writer, which reads them again and skips the
    batches whose write the table already holds (a crash between the write and the
    checkpoint's commit re-runs the batch). Pairs are saved before the status: a batch re-run
    after saving them and before its write still moves the rows kept under a stand-in name
    that got its id, found from the rows themselves."""

    config: PipelineConfig
    states: dict[str, ServingState] = field(default_factory=dict)
    directory: AdvertiserDirectory = field(default_factory=AdvertiserDirectory)
    now: tuple[datetime | None, datetime | None] = (None, None)
    last_written: int | None = None  # None: not started

    def __call__(self, batch: DataFrame, micro: MicroBatch) -> None:
        spark = batch.sparkSession
        config = self.config
        batch_id = micro.batch_id
        status_table = config.table(TableKey.GOLD_SERVING_STATUS)
        pairs_table = config.table(TableKey.GOLD_SERVING_ADVERTISERS)
        if self.last_written is None:
            self._start(spark, micro.query_id)
        assert self.last_written is not None
        if batch_id <= self.last_written:
            return  # written before a crash; its pairs were saved before that
        partials = batch.transform(batch_partials(config.budget)).collect()
        if not partials:
            return  # a batch without events (Spark runs some to expire the stream's state)
        seen = {
            (row["advertiser_id"], row["advertiser"])
            for row in partials
            if row["advertiser"] is not None and row["advertiser_id"] is not None
        }
        learned = seen - self.directory.pairs
        save_pairs(spark, learned, pairs_table, micro)
        before, self.directory = self.directory, self.directory.with_pairs(learned)
        moves = {**self._stand_ins(), **_stand_in_moves(before, self.directory)}
        states = []
        for row in partials:
            identity = self.directory.identify(row["advertiser_id"], row["advertiser"])
            if row["observed"] and identity is not None:
                states.append(state_of_partial(row, identity))
        changed, removed = fold_batch(self.states, states, moves)
        self._advance_now(partials)
        current_period = self.now[1]
        states_after = {k: v for k, v in self.states.items() if k not in removed}
        states_after.update(changed)
        if current_period is not None:
            states_after = {k: v.since(current_period) for k, v in states_after.items()}
        stamp = {
            "serving_query_id": micro.query_id,
            "serving_batch_id": batch_id,
            "updated_at": datetime.now(UTC).replace(tzinfo=None),
        }
        rows = [
            status_row(states_after[key], self.directory, config, self.now, stamp)
            for key in sorted(states_after)
        ]
        # One small file: one write task, and one file for readers to open.
        status = local_frame(spark, rows, SERVING_STATUS_SCHEMA).coalesce(1)
        micro.replace_all_once(status, status_table)
        micro.finish()
        self.states, self.last_written = states_after, batch_id

    def _advance_now(self, partials: list[Row]) -> None:
        """Move "now" to the newest instant the batch's events show, if later."""
        newest = max(
            (row for row in partials if row["now_candidate"] is not None),
            key=lambda row: row["now_candidate"],
            default=None,
        )
        if newest is not None and (self.now[0] is None or newest["now_candidate"] > self.now[0]):
            self.now = (newest["now_candidate"], newest["now_period"])

    def _stand_ins(self) -> dict[str, str]:
        """Rows kept under a stand-in name whose id is known now -> that id (rows left behind by
        a batch that saved its pairs and crashed before its status write)."""
        return {
            key: self.directory.links[key]
            for key, state in self.states.items()
            if state.advertiser_id is None and key in self.directory.links
        }

    def _start(self, spark: SparkSession, query_id: str) -> None:
        status_table = self.config.table(TableKey.GOLD_SERVING_STATUS)
        rows = spark.table(status_table).collect()
        others = {row["serving_query_id"] for row in rows} - {query_id, None}
        self.directory = read_directory(spark, self.config.table(TableKey.GOLD_SERVING_ADVERTISERS))
        if others:
            log.warning(
                "%s was written by another serving stream (query id %s): the serving "
                "checkpoint is new, so the stream re-reads the source from its start and "
                "rebuilds the status from empty",
                status_table,
                min(others),
            )
            self.states, self.now, self.last_written = {}, (None, None), -1
            return
        self.states = {row["advertiser_key"]: state_of_row(row) for row in rows}
        if rows:
            self.now = (rows[0]["as_of"], rows[0]["current_period_start"])
        written = [row["serving_batch_id"] for row in rows]
        self.last_written = max(written, default=-1)


def _stand_in_moves(before: AdvertiserDirectory, after: AdvertiserDirectory) -> dict[str, str]:
    """The moves from a stand-in name to the id it just got (serving cannot split the state of
    an id, so a name moving between two ids keeps what it counted under the first)."""
    return {
        old: new
        for old, new in before.moves(after).items()
        if old != new and old not in before.labels
    }


def read_serving_input(runtime: Runtime) -> DataFrame:
    """The source's valid clicks, budget observations and the events that name advertisers or
    move "now", with the ids new to the stream (`serving_input`)."""
    records = observe_batch(source_records(runtime).transform(to_bronze), source_time())
    return records.transform(serving_input(runtime.config))


def serving_trigger(trigger: StreamTrigger, config: PipelineConfig) -> StreamTrigger:
    """The serving stream's trigger in a run with `trigger`: its own interval when the run is
    continuous (can_serve is as fresh as its batches), availableNow when the run is once."""
    if trigger.continuous:
        return StreamTrigger(config.serving.processing_time)
    return trigger


SERVING = Layer(
    name="serving",
    tables=GOLD_TABLES,  # the views over the serving status need Gold's spend too
    read=read_serving_input,
    writer=ServingWriter,
    trigger=serving_trigger,
    state_partitions=lambda config: config.serving.state_partitions,
)
