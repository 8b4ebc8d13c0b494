"""Incremental equals rebuild, for every layer whose batches read only what they can change:
the chain (Bronze, Silver, Gold, attribution) fed in many small micro-batches, with late,
repeated and malformed lines arriving batches after the lines they belong with, leaves
- Silver and its quarantine as one Silver batch over the same Bronze rows does (in a second
  schema), but for the columns that name the batch that stored a row and when;
- Gold and attribution as a full refresh (`--full-refresh`) from that Silver does.

The per-batch scoping (Silver's duplicate window, Gold's affected hours and facts, attribution's
sessions, paths, daily sums and Markov refit) is what this checks: a batch that read too little
would leave a difference here."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.attribution.tables import ATTRIBUTION_TABLES
from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, generate_lines
from ad_marketing_pipeline.gold.tables import GOLD_TABLES
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.provisioning import ensure_tables
from ad_marketing_pipeline.runtime import Runtime, prepare_runtime
from ad_marketing_pipeline.tables import BRONZE_EVENTS
from helpers import assert_frames_equal, pipeline_config

LANDING_FILES = 5
# Columns that say which batch stored a Silver or quarantine row, and when: they differ between
# several batches and one by design.
BATCH_COLUMNS = ("processed_at", "silver_batch_id", "silver_query_id", "quarantined_at")
CHAIN = ["bronze", "silver", "gold", "attribution"]


def config_for(root: Path) -> PipelineConfig:
    return pipeline_config(
        root,
        "rebuild",
        source={"kind": "files", "max_files_per_trigger": 1},
        # Each table-to-table batch reads one Delta file of the layer before: at least one
        # batch per landing file in every layer.
        trigger={"max_files_per_batch": 1},
    )


def landed_in_small_files(config: PipelineConfig) -> None:
    """Generated lines (valid, repeated, malformed) in LANDING_FILES files, one Bronze batch
    each; a tenth of the lines are held back and arrive in the last two files."""
    settings = GeneratorSettings(
        events=1_200, advertisers=4, days=3, seed=11, malformed_share=0.05, duplicate_share=0.05
    )
    lines = [line.text for line in generate_lines(settings)]
    late = set(random.Random(7).sample(range(len(lines)), len(lines) // 10))
    on_time = [line for number, line in enumerate(lines) if number not in late]
    held_back = [lines[number] for number in sorted(late)]
    per_file = -(-len(on_time) // LANDING_FILES)
    files = [on_time[start : start + per_file] for start in range(0, len(on_time), per_file)]
    for number, late_line in enumerate(held_back):
        files[LANDING_FILES - 2 + number % 2].append(late_line)
    landing = Path(config.landing_path)
    landing.mkdir(parents=True, exist_ok=True)
    for number, file_lines in enumerate(files):
        (landing / f"part-{number:02d}.jsonl").write_text("\n".join(file_lines) + "\n")


def batches_of(runtime: Runtime, query_name: str) -> int:
    progress = runtime.spark.table(runtime.config.table(TableKey.OPS_STREAMING_PROGRESS))
    return progress.filter(F.col("query_name") == query_name).count()


def without_batch_columns(frame: DataFrame) -> DataFrame:
    return frame.drop(*BATCH_COLUMNS)


@pytest.fixture(scope="module")
def incremental(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    runtime = prepare_runtime(spark, config_for(tmp_path_factory.mktemp("small")), environ={})
    landed_in_small_files(runtime.config)
    run_layers(runtime, CHAIN, StreamTrigger())
    return runtime


@pytest.fixture(scope="module")
def rebuilt(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, incremental: Runtime
) -> Runtime:
    """The same Bronze rows in a second schema, Silver in one batch, Gold and attribution
    rebuilt from it."""
    one_batch = incremental.config.trigger.model_copy(update={"max_files_per_batch": 1_000})
    config = config_for(tmp_path_factory.mktemp("whole")).model_copy(update={"trigger": one_batch})
    runtime = prepare_runtime(spark, config, environ={})
    ensure_tables(runtime, [BRONZE_EVENTS])
    bronze = spark.table(incremental.config.table(TableKey.BRONZE_EVENTS))
    bronze.coalesce(1).write.format("delta").mode("append").saveAsTable(
        config.table(TableKey.BRONZE_EVENTS)
    )
    run_layers(runtime, ["silver"], StreamTrigger())
    run_layers(runtime, ["gold", "attribution"], StreamTrigger(), full_refresh=True)
    return runtime


@pytest.mark.slow
def test_the_chain_ran_in_many_small_batches(incremental: Runtime) -> None:
    for layer in ("silver", "gold", "attribution"):
        assert batches_of(incremental, layer) >= LANDING_FILES, layer


@pytest.mark.slow
def test_silver_in_many_batches_equals_silver_in_one(
    spark: SparkSession, incremental: Runtime, rebuilt: Runtime
) -> None:
    assert batches_of(rebuilt, "silver") == 1
    for key in (TableKey.SILVER_EVENTS, TableKey.SILVER_QUARANTINE):
        stored = spark.table(incremental.config.table(key))
        assert stored.count() > 0, key
        assert_frames_equal(
            without_batch_columns(stored),
            without_batch_columns(spark.table(rebuilt.config.table(key))),
        )


@pytest.mark.slow
def test_gold_and_attribution_after_many_batches_equal_a_full_refresh(
    spark: SparkSession, incremental: Runtime, rebuilt: Runtime
) -> None:
    for spec in (*GOLD_TABLES, *ATTRIBUTION_TABLES):
        stored = spark.table(incremental.config.table(spec.key))
        assert_frames_equal(stored, spark.table(rebuilt.config.table(spec.key)))
    spend = spark.table(incremental.config.table(TableKey.GOLD_ADVERTISER_SPEND))
    assert spend.count() > 20
    assert spark.table(incremental.config.table(TableKey.GOLD_ATTRIBUTION)).count() > 20
