"""Regression tests of issue 15's cases, each through the real engine (Delta tables, Spark's file
source and streaming engine, the broker where received times matter). Every one of them lost
data, stalled a layer or let an advertiser overspend before its fix.

One shared run (`hostile_run`) lands crafted events in two files and runs Bronze, the serving
stream, Silver and Gold over each; the tests named after the cases read its tables (each crosses
layers: Silver's ids, quarantine or duplicates, and what Gold and the serving stream made of
them). The cases about Gold alone (4's dead letter, 9) append their events to Silver directly
and run Gold alone.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import FaultsConfig, PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker
from ad_marketing_pipeline.gold.stream import GOLD
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.provisioning import ensure_tables
from ad_marketing_pipeline.runtime import prepare_runtime
from events import Event, append_to_silver, budget, click, conversion, impression, jsonl
from helpers import assert_frames_equal, pipeline_config

CHAIN = ["bronze", "serving", "silver", "gold"]


def land(config: PipelineConfig, name: str, events: Sequence[Event | str]) -> Path:
    landing = Path(config.landing_path)
    landing.mkdir(parents=True, exist_ok=True)
    path = landing / f"{name}.jsonl"
    path.write_text(jsonl(events))
    return path


def append_silver(
    spark: SparkSession, config: PipelineConfig, events: Sequence[Event], **columns: object
) -> None:
    """The events' Silver rows as one Silver commit (Gold's tables, Silver's among them,
    provisioned first, as a run provisions them)."""
    ensure_tables(prepare_runtime(spark, config, environ={}), GOLD.tables)
    append_to_silver(spark, config.table(TableKey.SILVER_EVENTS), events, **columns)


def run(spark: SparkSession, config: PipelineConfig, layers: Sequence[str]) -> None:
    run_layers(prepare_runtime(spark, config, environ={}), list(layers), StreamTrigger())


def table(spark: SparkSession, config: PipelineConfig, key: str) -> DataFrame:
    return spark.table(config.table(TableKey(key)))


def jan1(time: str) -> str:
    """'09:00' on 1 January 2024, UTC."""
    return f"2024-01-01T{time}:00Z"


FIRST_FILE: list[Event] = [
    # Case 2: a click and a conversion sharing an id; two impressions of one ad at one instant
    # without ids; two budget updates of one advertiser at one instant (10, then 20).
    click("42", at=jan1("09:00"), amount="1.00", advertiser="Tally"),
    conversion("42", at=jan1("09:30"), user_id="u-1", revenue=30),
    impression(at=jan1("09:15"), amount=0.01, advertiser="Imps", ad_id="ad-9"),
    impression(at=jan1("09:15"), amount=0.02, advertiser="Imps", ad_id="ad-9"),
    budget(at=jan1("10:00"), budget_value=10, advertiser="Bravo"),
    budget(at=jan1("10:00"), budget_value=20, advertiser="Bravo"),
    click("b-1", at=jan1("10:30"), amount="15", advertiser="Bravo"),
    # Case 4: two absurd amounts for one advertiser in one hour, and an ordinary click of it.
    click("p-1", at=jan1("11:00"), amount=999999999999, advertiser="Poison"),
    click("p-2", at=jan1("11:05"), amount=999999999999, advertiser="Poison"),
    click("p-3", at=jan1("11:10"), amount="2.50", advertiser="Poison"),
    # Case 5: one advertiser spelled two ways, the id given both times.
    budget(at=jan1("08:00"), budget_value=10, advertiser="Acme", advertiser_id="X-1"),
    click("x-1", at=jan1("08:30"), amount="20", advertiser="acme", advertiser_id="X-1"),
    # Case 10: two copies of one click with different amounts; the first received counts.
    click("dup-1", at=jan1("09:45"), amount="5.00", advertiser="Dupe"),
    click("dup-1", at=jan1("09:45"), amount="7.00", advertiser="Dupe"),
]
SECOND_FILE: list[Event] = [
    # a third copy, in a later batch
    click("dup-1", at=jan1("09:45"), amount="9.00", advertiser="Dupe"),
    # Gold keeps moving after the poison
    click("late-1", at=jan1("11:30"), amount="3.00", advertiser="Later"),
]


@dataclass(frozen=True)
class HostileRun:
    spark: SparkSession
    config: PipelineConfig

    def table(self, key: str) -> DataFrame:
        return table(self.spark, self.config, key)

    def hour_rows(self, advertiser_key: str) -> list[Any]:
        return (
            self.table(TableKey.GOLD_ADVERTISER_SPEND)
            .filter(F.col("advertiser_key") == advertiser_key)
            .orderBy("window_start")
            .collect()
        )

    def serving(self, advertiser_key: str) -> Any:
        rows = (
            self.table(TableKey.GOLD_LATEST_SERVING_STATUS)
            .filter(F.col("advertiser_key") == advertiser_key)
            .collect()
        )
        assert len(rows) == 1, rows
        return rows[0]


@pytest.fixture(scope="module")
def hostile_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    config = pipeline_config(
        tmp_path_factory.mktemp("hostile"),
        "faults",
        source={"kind": "files", "max_files_per_trigger": 1},
    )
    land(config, "events-1", FIRST_FILE)
    run(spark, config, CHAIN)
    land(config, "events-2", SECOND_FILE)
    run(spark, config, CHAIN)
    return HostileRun(spark, config)


@pytest.mark.slow
def test_case_2_distinct_events_sharing_an_id_or_an_instant_stay_distinct(
    hostile_run: HostileRun,
) -> None:
    silver = hostile_run.table(TableKey.SILVER_EVENTS)
    ids = {row["event_id"] for row in silver.select("event_id").collect()}
    assert {"ad_click:42", "conversion:42"} <= ids
    impressions = silver.filter(F.col("event_type") == "impression")
    assert sorted(row["amount"] for row in impressions.collect()) == [
        Decimal("0.01"),
        Decimal("0.02"),
    ]
    budgets = silver.filter(
        (F.col("event_type") == "budget_update") & (F.col("advertiser") == "Bravo")
    )
    assert budgets.count() == 2
    # Two budget values at one instant: the one received later (the file's later line) is in
    # effect, so 15 spent of 20 still serves.
    (hour,) = [row for row in hostile_run.hour_rows("Bravo") if row["record_count"] == 1]
    assert (hour["budget_value"], hour["can_serve"]) == (Decimal(20), True)
    serving = hostile_run.serving("Bravo")
    assert (serving["budget_value"], serving["latest_can_serve"]) == (Decimal(20), True)


@pytest.mark.slow
def test_case_4_absurd_amounts_are_quarantined_and_nothing_stalls(
    hostile_run: HostileRun,
) -> None:
    quarantine = hostile_run.table(TableKey.SILVER_QUARANTINE)
    codes = {
        json.loads(row["payload"])["click_id"]: row["reason_codes"] for row in quarantine.collect()
    }
    assert codes == {"p-1": ["value_out_of_range"], "p-2": ["value_out_of_range"]}
    assert [row["gross_spend"] for row in hostile_run.hour_rows("Poison")] == [Decimal("2.5")]
    # The second run moved Gold on: the later advertiser's click is there.
    assert [row["gross_spend"] for row in hostile_run.hour_rows("Later")] == [Decimal("3")]
    assert hostile_run.table(TableKey.OPS_DEAD_LETTERS).count() == 0


@pytest.mark.slow
def test_case_5_the_advertiser_id_is_the_key_names_are_labels(hostile_run: HostileRun) -> None:
    rows = hostile_run.hour_rows("X-1")
    assert [(row["advertiser"], row["budget_value"], row["can_serve"]) for row in rows] == [
        ("Acme", Decimal(10), False)
    ]
    names = (
        hostile_run.table(TableKey.GOLD_ADVERTISER_SPEND)
        .filter(F.lower("advertiser") == "acme")
        .select("advertiser_key")
        .distinct()
        .collect()
    )
    assert [row[0] for row in names] == ["X-1"]
    serving = hostile_run.serving("X-1")
    assert (serving["advertiser"], serving["spend_to_date"], serving["latest_can_serve"]) == (
        "Acme",
        Decimal(20),
        False,
    )


@pytest.mark.slow
def test_case_10_the_first_received_copy_wins_and_the_others_are_counted(
    hostile_run: HostileRun,
) -> None:
    copies = (
        hostile_run.table(TableKey.SILVER_EVENTS).filter(F.col("click_id") == "dup-1").collect()
    )
    assert [row["amount"] for row in copies] == [Decimal(5)]
    quality = hostile_run.table(TableKey.OPS_DATA_QUALITY).agg(
        F.sum("input_rows"),
        F.sum("inserted_rows"),
        F.sum("duplicate_rows"),
        F.sum("quarantined_rows"),
    )
    bronze_rows = hostile_run.table(TableKey.BRONZE_EVENTS).count()
    assert quality.first() == (bronze_rows, bronze_rows - 4, 2, 2)
    assert [row["gross_spend"] for row in hostile_run.hour_rows("Dupe")] == [Decimal(5)]
    assert hostile_run.serving("Dupe")["spend_to_date"] == Decimal(5)


@pytest.mark.slow
def test_case_1_a_reset_silver_checkpoint_loses_no_new_data(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = pipeline_config(tmp_path, "faults")
    first: list[Event | str] = [
        click(f"a-{n}", at=jan1("09:00"), amount=1, advertiser="A") for n in range(50)
    ]
    land(config, "first", [*first, "oops"])
    run(spark, config, ["bronze", "silver"])
    land(
        config,
        "second",
        [click(f"b-{n}", at=jan1("10:00"), amount=1, advertiser="A") for n in range(50)],
    )
    run(spark, config, ["bronze"])
    shutil.rmtree(tmp_path / "checkpoints" / "silver")

    run(spark, config, ["silver"])

    assert table(spark, config, "silver_events").count() == 100
    assert table(spark, config, "silver_quarantine").count() == 1  # not quarantined twice
    quality = table(spark, config, "ops_data_quality")
    assert quality.select("query_id").distinct().count() == 2  # the new stream's rows are kept
    totals = quality.groupBy("query_id").agg(
        F.sum("input_rows").alias("input"), F.sum("inserted_rows").alias("inserted")
    )
    assert sorted((row["input"], row["inserted"]) for row in totals.collect()) == [
        (51, 50),
        (101, 50),
    ]
    # Every record read is in Silver, in quarantine or counted as a duplicate (the second
    # stream's re-read of the first 51 records: 50 valid and 1 invalid).
    counts = quality.agg(
        *(
            F.sum(name)
            for name in ("input_rows", "inserted_rows", "duplicate_rows", "quarantined_rows")
        )
    ).first()
    assert counts == (152, 100, 51, 1)


@pytest.mark.slow
def test_case_3_a_landing_file_with_an_old_modification_time_is_read(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = pipeline_config(tmp_path, "faults")
    land(config, "today", [click("t-1", at=jan1("09:00"), amount=1, advertiser="A")])
    run(spark, config, ["bronze"])
    outside = tmp_path / "outside"
    outside.mkdir()
    for days, name in ((10, "ten-days-old"), (400, "a-year-old")):
        path = outside / f"{name}.jsonl"
        path.write_text(jsonl([click(name, at=jan1("09:00"), amount=1, advertiser="A")]))
        old = time.time() - days * 86_400
        os.utime(path, (old, old))
        shutil.move(path, Path(config.landing_path) / path.name)  # mv keeps the mtime

    run(spark, config, ["bronze"])

    payloads = [
        json.loads(row["payload"])["click_id"]
        for row in table(spark, config, "bronze_events").collect()
    ]
    assert sorted(payloads) == ["a-year-old", "t-1", "ten-days-old"]


@pytest.mark.slow
def test_case_7_one_click_stamped_in_the_next_period_does_not_move_now(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Clocks may be two days apart, so a click can be stamped in tomorrow's budget period.
    config = pipeline_config(tmp_path, "faults", quality={"max_future_skew_minutes": 2880})
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = today + timedelta(days=1)

    minute = timedelta(minutes=1)
    land(
        config,
        "now",
        [
            budget(at=today, budget_value=10, advertiser="Spent"),
            click("s-1", at=today + minute, amount=10, advertiser="Spent"),
            click("a-1", at=today + 2 * minute, amount=3, advertiser="Ahead"),
            click("a-2", at=tomorrow + minute, amount=4, advertiser="Ahead"),
        ],
    )

    run(spark, config, ["serving"])

    status = {
        row["advertiser"]: row
        for row in table(spark, config, "gold_latest_serving_status").collect()
    }
    today = today.replace(tzinfo=None)
    assert status["Spent"]["current_period_start"] == today
    assert status["Spent"]["as_of"] <= datetime.now(UTC).replace(tzinfo=None)
    assert (status["Spent"]["spend_to_date"], status["Spent"]["latest_can_serve"]) == (
        Decimal(10),
        False,
    )
    # The sender keeps its spend of today; tomorrow's click waits for tomorrow.
    assert status["Ahead"]["spend_to_date"] == Decimal(3)
    kept = table(spark, config, "gold_serving_status").filter(F.col("advertiser") == "Ahead")
    periods = kept.select(F.explode("period_spend").alias("p")).select("p.*").collect()
    assert sorted((row["period_start"], row["spend_to_date"]) for row in periods) == [
        (today, Decimal(3)),
        (today + timedelta(days=1), Decimal(4)),
    ]


def produce_at(
    broker: LocalKafkaBroker, topic: str, records: Sequence[tuple[Event, datetime]]
) -> None:
    """Send each event with the broker timestamp (CreateTime) given."""
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for event, at in records:
        producer.produce(topic, event.line().encode(), timestamp=int(at.timestamp() * 1000))
    assert producer.flush(30) == 0


@pytest.mark.slow
@pytest.mark.kafka
def test_case_8_time_rules_judge_against_the_received_time_not_the_run(
    spark: SparkSession, tmp_path: Path, kafka_broker: LocalKafkaBroker
) -> None:
    kafka_topic = f"kept-{uuid.uuid4().hex[:12]}"
    config = pipeline_config(
        tmp_path,
        "faults",
        source={
            "kind": "kafka",
            "bootstrap_servers": kafka_broker.bootstrap_servers,
            "topics": [kafka_topic],
        },
        quality={"max_event_age_days": 1},
    )
    # The records carry their own broker timestamps, years old: a topic that keeps them.
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    created = admin.create_topics(
        [
            NewTopic(
                kafka_topic, num_partitions=1, replication_factor=1, config={"retention.ms": "-1"}
            )
        ]
    )
    created[kafka_topic].result(30)
    received = datetime(2024, 1, 1, 12, tzinfo=UTC)
    produce_at(
        kafka_broker,
        kafka_topic,
        [
            # Two hours before it was received: fresh for a one-day age limit, though years
            # before this run (the run's clock called it too old).
            (click("on-time", at=jan1("10:00"), amount=2, advertiser="K"), received),
            # An hour after it was received: in the future, whenever the run happens.
            (click("ahead", at=jan1("13:00"), amount=5, advertiser="K"), received),
        ],
    )

    run(spark, config, ["bronze", "serving", "silver"])

    silver = [row["click_id"] for row in table(spark, config, "silver_events").collect()]
    quarantined = table(spark, config, "silver_quarantine").collect()
    assert silver == ["on-time"]
    assert [row["reason_codes"] for row in quarantined] == [["timestamp_in_future"]]
    # The serving stream judged both alike: only the valid click counts.
    status = table(spark, config, "gold_latest_serving_status").collect()
    assert [(row["advertiser"], row["spend_to_date"]) for row in status] == [("K", Decimal(2))]


@pytest.mark.slow
def test_case_4_a_record_gold_cannot_process_is_dead_lettered_and_the_batch_completes(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Silver rows as an earlier version let them in: a click stamped in year 1, which Gold
    # cannot place in a budget hour, between two ordinary clicks.
    config = pipeline_config(tmp_path, "faults")
    ordinary = datetime(2024, 1, 1, 9)
    clicks = [
        click(click_id, at=at, amount=1, advertiser="Steady")
        for click_id, at in (("ok-1", ordinary), ("year-1", datetime(1, 1, 1)), ("ok-2", ordinary))
    ]
    append_silver(spark, config, clicks, received_at=ordinary)

    run(spark, config, ["gold"])  # completes

    dead = table(spark, config, "ops_dead_letters").collect()
    assert [(row["layer"], row["event_id"]) for row in dead] == [("gold", "ad_click:year-1")]
    assert "year 0 is out of range" in dead[0]["reason"]
    assert json.loads(dead[0]["record"])["click_id"] == "year-1"
    spend = table(spark, config, "gold_advertiser_spend").collect()
    assert [(row["advertiser"], row["gross_spend"]) for row in spend] == [("Steady", Decimal(2))]
    run(spark, config, ["gold"])  # and the next run is not stopped by it either


GOLD_TABLES = (
    "gold_advertiser_spend",
    "gold_fact_conversions",
    "gold_fact_ad_performance",
    "gold_advertisers",
)


def gold_history(spark: SparkSession, config: PipelineConfig) -> dict[str, int]:
    """The current Delta version of each Gold table."""
    versions = {}
    for key in GOLD_TABLES:
        newest = (
            spark.sql(f"DESCRIBE HISTORY {config.table(TableKey(key))}")
            .agg(F.max("version"))
            .first()
        )
        assert newest is not None
        versions[key] = int(newest[0])
    return versions


@pytest.mark.slow
def test_case_9_a_gold_batch_stopped_between_any_two_writes_replays_to_the_same_tables(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = pipeline_config(tmp_path, "faults")
    journey = {"user_id": "u-1", "campaign_id": "cmp-a", "source": "google", "platform": "ads"}
    append_silver(
        spark,
        config,
        [
            budget(at=jan1("08:00"), budget_value=50, advertiser="Acme"),
            click("c-1", at=jan1("09:00"), amount=2, advertiser="Acme", **journey),
            conversion("v-1", at=jan1("12:00"), user_id="u-1", revenue=40),
        ],
        ingested_at=datetime(2024, 1, 1, 13, tzinfo=UTC),
    )
    run(spark, config, ["gold"])
    before = gold_history(spark, config)
    checkpoint = tmp_path / "checkpoints" / "gold"
    saved_checkpoint = tmp_path / "gold-checkpoint-before"
    shutil.copytree(checkpoint, saved_checkpoint)
    # A late click of the same user, closer to the conversion, on another source and campaign:
    # the conversion moves to its performance key (the old key's row must lose it), and a new
    # name for the advertiser's id is learned.
    late = {**journey, "campaign_id": "cmp-b", "source": "facebook"}
    append_silver(
        spark,
        config,
        [
            click(
                "c-2", at=jan1("11:00"), amount=3, advertiser="Acme", advertiser_id="A-1", **late
            ),
            budget(at=jan1("11:30"), budget_value=4, advertiser="Acme", advertiser_id="A-1"),
        ],
        ingested_at=datetime(2024, 1, 1, 14, tzinfo=UTC),
    )
    run(spark, config, ["gold"])
    expected = {key: table(spark, config, key).localCheckpoint() for key in GOLD_TABLES}
    moved = table(spark, config, "gold_fact_conversions").first()
    assert moved is not None and moved["source"] == "facebook"

    for write in (1, 2, 3, 4, 5):
        for key, version in before.items():
            spark.sql(f"RESTORE TABLE {config.table(TableKey(key))} TO VERSION AS OF {version}")
        shutil.rmtree(checkpoint)
        shutil.copytree(saved_checkpoint, checkpoint)
        stopped = config.model_copy(
            update={"faults": FaultsConfig(kill_at_write=f"gold:{write}", action="raise")}
        )
        with pytest.raises(StreamingQueryException, match="fault injection"):
            run(spark, stopped, ["gold"])

        run(spark, config, ["gold"])  # replays the stopped batch

        for key, rows in expected.items():
            assert_frames_equal(table(spark, config, key), rows)
