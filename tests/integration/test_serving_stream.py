"""The serving stream on the real streaming engine: landing files -> gold_serving_status in several
micro-batches, read through gold_latest_serving_status; a replayed batch; a foreign checkpoint."""

from __future__ import annotations

import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers
from ad_marketing_pipeline.runtime import prepare_runtime
from events import Event, budget, click, impression, jsonl
from helpers import assert_frames_equal, pipeline_config

STATUS_DDL = (
    "advertiser string, advertiser_id string, latest_hour timestamp, latest_can_serve boolean, "
    "budget_value decimal(18,6), spend_to_date decimal(38,6)"
)


def serving_config(root: Path) -> PipelineConfig:
    return pipeline_config(root, "serving", source={"kind": "files", "max_files_per_trigger": 1})


def land(config: PipelineConfig, name: str, lines: list[Event | str]) -> None:
    landing = Path(config.landing_path)
    landing.mkdir(parents=True, exist_ok=True)
    (landing / f"{name}.jsonl").write_text(jsonl(lines))


def jan(day_and_time: str) -> str:
    """'02T09:10': that day and minute of January 2024, UTC."""
    return f"2024-01-{day_and_time}:00Z"


def run_serving(spark: SparkSession, config: PipelineConfig) -> None:
    run_layers(prepare_runtime(spark, config, environ={}), ["serving"], StreamTrigger())


def status(spark: SparkSession, config: PipelineConfig) -> Any:
    return spark.table(config.table(TableKey.GOLD_LATEST_SERVING_STATUS)).select(
        *[field.split()[0] for field in STATUS_DDL.split(", ")]
    )


@pytest.mark.slow
def test_each_click_counts_once_names_move_stand_ins_and_a_replayed_batch_changes_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = serving_config(tmp_path)
    land(
        config,
        "1",
        [
            click("c-1", at=jan("02T09:10"), amount="2.50", advertiser="acme", budget_value="10"),
            budget(at=jan("02T09:30"), advertiser="acme", budget_value="4"),
            # no name known yet
            click("c-2", at=jan("02T09:40"), amount="1.00", advertiser=None, advertiser_id="adv-9"),
            # no budget: it serves
            click("c-3", at=jan("02T10:00"), amount="1.00", advertiser="bravo"),
            '{"event_type": "ad_click", "click_id": "bad"}',  # invalid: Silver quarantines it
        ],
    )
    land(
        config,
        "2",
        [
            # again
            click("c-1", at=jan("02T09:10"), amount="2.50", advertiser="acme", budget_value="10"),
            click("c-4", at=jan("02T10:05"), amount="2.00", advertiser="acme"),  # 4.50 of 4 spent
            impression(at=jan("02T10:06"), advertiser="charlie", advertiser_id="adv-9", ad_id="a"),
        ],
    )
    land(
        config,
        "3",
        [
            # late, a closed day
            click("c-0", at=jan("01T23:00"), amount="100.00", advertiser="bravo"),
            # charlie's now
            click("c-5", at=jan("02T11:15"), amount="0.50", advertiser=None, advertiser_id="adv-9"),
        ],
    )
    run_serving(spark, config)

    at = datetime.fromisoformat
    assert_frames_equal(
        status(spark, config),
        spark.createDataFrame(
            [
                ("acme", None, at("2024-01-02T10:00"), False, Decimal(4), Decimal("4.5")),
                ("bravo", None, at("2024-01-02T10:00"), True, None, Decimal(1)),
                ("charlie", "adv-9", at("2024-01-02T11:00"), True, None, Decimal("1.5")),
            ],
            STATUS_DDL,
        ),
    )
    table = config.table(TableKey.GOLD_SERVING_STATUS)
    assert spark.table(table).agg({"serving_batch_id": "max"}).first()[0] == 2  # type: ignore[index]

    # A crash after batch 2's write, before its commit: forget its commit (and the batch that
    # only moved the watermark after it), and the restart runs batch 2 again; Delta and the
    # writer skip its write (the same stream and batch id).
    versions = spark.sql(f"DESCRIBE HISTORY {table}").count()
    before = status(spark, config).collect()
    checkpoint = tmp_path / "checkpoints" / "serving"
    commits = checkpoint / "commits"
    for log, first_forgotten in ((commits, 2), (checkpoint / "offsets", 3)):
        for entry in log.iterdir():  # with their checksum files
            batch = entry.name.removeprefix(".").removesuffix(".crc")
            if batch.isdigit() and int(batch) >= first_forgotten:
                entry.unlink()
    run_serving(spark, config)
    assert (commits / "2").exists(), "batch 2 should have run again"
    assert spark.sql(f"DESCRIBE HISTORY {table}").count() == versions
    assert_frames_equal(status(spark, config), spark.createDataFrame(before, STATUS_DDL))


@pytest.mark.slow
def test_a_new_checkpoint_rebuilds_the_status_from_the_source_without_counting_twice(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = serving_config(tmp_path)
    land(config, "1", [click("c-1", at=jan("02T09:10"), amount="2.50", advertiser="acme")])
    land(config, "2", [click("c-2", at=jan("02T09:20"), amount="1.50", advertiser="acme")])
    run_serving(spark, config)
    before = status(spark, config).collect()
    shutil.rmtree(tmp_path / "checkpoints" / "serving")  # the table stays

    run_serving(spark, config)

    assert_frames_equal(status(spark, config), spark.createDataFrame(before, STATUS_DDL))
    assert before[0]["spend_to_date"] == Decimal(4)
