"""The hostile-input corpus (hostile_corpus.py) through the whole chain: landing files -> Bronze,
the serving stream, Silver, Gold and attribution, one landing file per micro-batch.

No run may fail; Bronze keeps every line; each record lands where its kind says (Silver, a
duplicate of an earlier copy, or quarantine with its reason codes) and Silver's counts add up;
whatever Gold sets aside carries a reason; gold_advertiser_spend and the serving status equal
what the plain-Python reference (reference_model.py) computes from the records; and a second
run with nothing new changes no table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

import reference_model as reference
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.runtime import prepare_runtime
from helpers import assert_frames_equal, pipeline_config
from hostile_corpus import FILE_NAMES, Kind, PlacedLine, build_corpus, landing_files, placed_lines

pytestmark = pytest.mark.slow

CHAIN = ["bronze", "serving", "silver", "gold", "attribution"]
# The tables a second run with nothing new must leave as they are.
STEADY_TABLES = (
    "bronze_events",
    "silver_events",
    "silver_quarantine",
    "ops_data_quality",
    "ops_dead_letters",
    "gold_advertisers",
    "gold_advertiser_spend",
    "gold_fact_conversions",
    "gold_fact_ad_performance",
    "gold_serving_advertisers",
    "gold_serving_status",
    "gold_attribution",
)
POSITION_DDL = "file_name string, offset bigint"
FATE_DDL = "kind string, file_name string, offset bigint, fate string, reasons array<string>"


def hostile_config(root: Path) -> PipelineConfig:
    """One landing file per Bronze batch, one Bronze file per Silver / Gold batch."""
    return pipeline_config(
        root,
        "hostile",
        source={"kind": "files", "max_files_per_trigger": 1},
        trigger={"max_files_per_batch": 1},
    )


def write_landing_files(landing: Path, contents: dict[str, bytes]) -> None:
    """The files, with modification times one minute apart in name order (Spark's file source
    takes the oldest first)."""
    landing.mkdir(parents=True, exist_ok=True)
    oldest = datetime.now(UTC).timestamp() - 60 * len(contents)
    for number, (name, content) in enumerate(contents.items()):
        path = landing / name
        path.write_bytes(content)
        os.utime(path, (oldest + 60 * number, oldest + 60 * number))


def latest_version(spark: SparkSession, table: str) -> int:
    history = spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").first()
    assert history is not None
    return int(history["version"])


def file_name(path: Column) -> Column:
    return F.element_at(F.split(path, "/"), -1)


@dataclass(frozen=True)
class HostileRun:
    spark: SparkSession
    config: PipelineConfig
    kinds: list[Kind]
    placed: list[PlacedLine]
    contents: dict[str, bytes]
    layers_done: dict[str, datetime]  # when each layer of the first run finished
    versions: dict[str, int]  # each steady table's Delta version after the first run

    def table(self, key: str) -> DataFrame:
        return self.spark.table(self.config.table(TableKey(key)))

    def records(self) -> list[reference.Record]:
        """The landing files' records as Bronze received them (its ingest time per file)."""
        files = {
            row["file_name"]: (row["file_path"], row["ingested_at"])
            for row in self.table(TableKey.BRONZE_EVENTS)
            .groupBy(file_name(F.col("file_path")).alias("file_name"), "file_path")
            .agg(F.min("ingested_at").alias("ingested_at"))
            .collect()
        }
        records: list[reference.Record] = []
        for name, content in self.contents.items():
            if name in files:
                path, ingested_at = files[name]
                records += reference.file_records(content, path, ingested_at.astimezone(UTC))
        return records

    def outcome(self) -> reference.SilverOutcome:
        return reference.silver(self.records(), self.config.quality)


@pytest.fixture(scope="module")
def hostile_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    config = hostile_config(tmp_path_factory.mktemp("hostile"))
    kinds = build_corpus(datetime.now(UTC))
    contents = landing_files(kinds)
    write_landing_files(Path(config.landing_path), contents)
    layers_done: dict[str, datetime] = {}

    def done(layer: str, _seconds: float) -> None:
        layers_done[layer] = datetime.now(UTC)

    run_layers(
        prepare_runtime(spark, config, environ={}), CHAIN, StreamTrigger(), on_layer_done=done
    )
    versions = {key: latest_version(spark, config.table(TableKey(key))) for key in STEADY_TABLES}
    # A second run with nothing new.
    run_layers(prepare_runtime(spark, config, environ={}), CHAIN, StreamTrigger())
    return HostileRun(spark, config, kinds, placed_lines(kinds), contents, layers_done, versions)


def test_the_corpus_has_forty_kinds_and_states_what_the_reference_decides(
    hostile_run: HostileRun,
) -> None:
    assert len(hostile_run.kinds) >= 40
    assert set(FILE_NAMES.values()) == set(hostile_run.contents)
    decided = list(reference.by_position(hostile_run.outcome()))
    assert len(decided) == len(hostile_run.placed)
    disagreements = [
        (placed.kind, placed.file_name, placed.offset, fate, sorted(reasons))
        for placed, (_record, fate, reasons) in zip(hostile_run.placed, decided, strict=True)
        if (fate, reasons) != (placed.line.expect.fate, placed.line.expect.reasons)
    ]
    assert disagreements == []


def test_bronze_keeps_every_line_exactly(hostile_run: HostileRun) -> None:
    spark = hostile_run.spark
    expected = [
        (name, offset, line)
        for name, content in hostile_run.contents.items()
        for offset, line in enumerate(reference.file_lines(content))
    ]
    assert len(expected) == len(hostile_run.placed)
    bronze = hostile_run.table(TableKey.BRONZE_EVENTS)
    assert_frames_equal(
        bronze.select(file_name(F.col("file_path")).alias("file_name"), "offset", "payload"),
        spark.createDataFrame(expected, f"{POSITION_DDL}, payload string"),
    )


def fates(hostile_run: HostileRun) -> DataFrame:
    """Each Bronze record's kind and where it landed: quarantine (with its reason codes),
    Silver, or neither (a duplicate)."""
    spark = hostile_run.spark
    position: list[Column | str] = [file_name(F.col("file_path")).alias("file_name"), "offset"]
    kinds = spark.createDataFrame(
        [(p.kind, p.file_name, p.offset) for p in hostile_run.placed],
        f"kind string, {POSITION_DDL}",
    )
    quarantined = hostile_run.table(TableKey.SILVER_QUARANTINE).select(
        *position, F.array_sort(F.array_distinct("reason_codes")).alias("reasons")
    )
    inserted = hostile_run.table(TableKey.SILVER_EVENTS).select(
        *position, F.lit(True).alias("inserted")
    )
    landed = (
        hostile_run.table(TableKey.BRONZE_EVENTS)
        .select(*position)
        .join(kinds, ["file_name", "offset"], "left")
        .join(quarantined, ["file_name", "offset"], "left")
        .join(inserted, ["file_name", "offset"], "left")
    )
    fate = (
        F.when(F.col("reasons").isNotNull(), F.lit("quarantine"))
        .when(F.col("inserted"), F.lit("silver"))
        .otherwise(F.lit("duplicate"))
    )
    return landed.select(
        "kind",
        "file_name",
        "offset",
        fate.alias("fate"),
        F.coalesce("reasons", F.array().cast("array<string>")).alias("reasons"),
    )


def test_every_kind_lands_where_the_corpus_says(hostile_run: HostileRun) -> None:
    expected = [
        (
            p.kind,
            p.file_name,
            p.offset,
            p.line.expect.fate,
            sorted(p.line.expect.reasons),
        )
        for p in hostile_run.placed
    ]
    assert_frames_equal(fates(hostile_run), hostile_run.spark.createDataFrame(expected, FATE_DDL))


def test_silver_counts_every_record_once(hostile_run: HostileRun) -> None:
    batches = hostile_run.table(TableKey.OPS_DATA_QUALITY).collect()
    assert len(batches) >= 3, "Silver should meet the corpus in several micro-batches"
    unbalanced = [
        row.asDict()
        for row in batches
        if row["input_rows"]
        != row["inserted_rows"] + row["duplicate_rows"] + row["quarantined_rows"]
        or row["valid_rows"] != row["inserted_rows"] + row["duplicate_rows"]
    ]
    assert unbalanced == []
    counted = {
        name: sum(row[name] for row in batches)
        for name in (
            "input_rows",
            "valid_rows",
            "inserted_rows",
            "duplicate_rows",
            "quarantined_rows",
        )
    }
    assert counted["input_rows"] == hostile_run.table(TableKey.BRONZE_EVENTS).count()
    assert counted["inserted_rows"] == hostile_run.table(TableKey.SILVER_EVENTS).count()
    assert counted["quarantined_rows"] == hostile_run.table(TableKey.SILVER_QUARANTINE).count()
    assert counted == reference.outcome_counts(hostile_run.outcome())


def test_whatever_gold_sets_aside_has_a_reason(hostile_run: HostileRun) -> None:
    dead_letters = hostile_run.table(TableKey.OPS_DEAD_LETTERS)
    without_reason = dead_letters.filter(F.coalesce(F.trim("reason"), F.lit("")) == "")
    assert without_reason.count() == 0


def test_gold_spend_equals_the_reference(hostile_run: HostileRun) -> None:
    rows = reference.advertiser_spend(hostile_run.outcome().events, hostile_run.config.budget)
    # The corpus exercises the rules that are easy to get wrong.
    assert any(not row.can_serve for row in rows), "no advertiser exhausts its budget"
    assert any(row.credited_spend > 0 for row in rows), "no refund is credited"
    assert any(row.record_count == 0 and row.credited_spend == 0 for row in rows)
    assert any(row.advertiser.advertiser_id is None for row in rows), "no stand-in name"
    expected = hostile_run.spark.createDataFrame(
        [row.as_tuple() for row in rows], reference.ADVERTISER_SPEND_DDL
    )
    assert_frames_equal(
        hostile_run.table(TableKey.GOLD_ADVERTISER_SPEND).select(*expected.columns), expected
    )


def test_the_serving_status_equals_the_reference(hostile_run: HostileRun) -> None:
    status = hostile_run.table(TableKey.GOLD_LATEST_SERVING_STATUS)
    (as_of,) = {row["as_of"].astimezone(UTC) for row in status.select("as_of").collect()}
    # The last file holds a click stamped 14 minutes after it was written: "now" is when the
    # serving stream received it, between the end of Bronze and the end of the serving stream.
    done = hostile_run.layers_done
    assert done["bronze"] <= as_of <= done["serving"]
    expected = reference.latest_serving_status(
        hostile_run.outcome().events, hostile_run.config.budget, received_by=as_of
    )
    expected_status = hostile_run.spark.createDataFrame(
        expected, reference.LATEST_SERVING_STATUS_DDL
    )
    # The documented limitation (README, serving): a name-only click counts under the id its
    # name stood for when the stream read it. Stark named STK-2 until file 4 made it also the
    # name of STK-1 (the smaller id, so Stark's link from then on): the reference, which knows
    # every pair from the start, counts stk-3 (file 2, 09:20) for STK-1; the stream kept it under
    # STK-2. Every other row must equal the reference.
    moved = F.col("advertiser_key") == "STK-2"
    assert_frames_equal(
        status.filter(~moved).select(*expected_status.columns), expected_status.filter(~moved)
    )
    stark = status.filter(moved).select("latest_hour").collect()
    assert [row["latest_hour"] for row in stark] == [datetime(2024, 3, 4, 9)]


def test_a_second_run_with_nothing_new_changes_nothing(hostile_run: HostileRun) -> None:
    for key, version in hostile_run.versions.items():
        table = hostile_run.config.table(TableKey(key))
        assert_frames_equal(
            hostile_run.spark.table(table),
            hostile_run.spark.sql(f"SELECT * FROM {table} VERSION AS OF {version}"),
        )
