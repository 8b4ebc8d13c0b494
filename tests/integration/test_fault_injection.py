"""Fault injection over the whole chain (issue 15): SIGKILL at random moments and at every write of
a Silver and a Gold micro-batch, then checkpoint loss; every table must end as an uninterrupted
run leaves it.

One generated dataset (20,000 lines over ten landing files, with the generator's duplicates and
malformed lines) goes through `ad-pipeline run --layers bronze,serving,silver,gold,attribution
--trigger once`, each run a child process in its own process group:

- the reference root gets every file at once and one uninterrupted run;
- the chaos root gets the same files (same names and modification times) a file at a time, and
  runs that are killed: ten times with SIGKILL to the process group after a seeded random delay,
  and once at each write point of a Silver and a Gold micro-batch (`faults.kill_at_write`, the
  process kills its own group there); then two runs to completion, the second of which must
  write nothing;
- every table of the chaos root must then equal the reference's (chispa, row order ignored), less
  the columns that record when or by which run a row was written;
- finally each checkpoint of the chaos root is deleted in turn and the chain run again: no table
  may lose rows, and Silver, Gold, attribution and the serving status must still equal the
  reference (Bronze legitimately takes the files again when its own checkpoint is lost).

Doubles (attribution credits, Markov removal effects, shares and ratios) are compared rounded to
9 decimal places: their sums may be added up in another order.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType, MapType, StructType

from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from helpers import assert_frames_equal, cli_log, start_cli, write_conf

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTINGS = GeneratorSettings(
    events=20_000,
    advertisers=15,
    days=10,
    seed=15,
    malformed_share=0.01,
    duplicate_share=0.01,
    events_per_file=2_000,
)
CONF = {
    "schema": "ad_marketing",
    "source": {"kind": "files"},
    "spark": {"master": "local[2]", "shuffle_partitions": 2},
}
CHAIN = "bronze,serving,silver,gold,attribution"
CHECKPOINTS = ("bronze_files", "serving", "silver", "gold", "attribution")
RUN_TIMEOUT = 1_800.0
RANDOM_KILLS = 10
# A random moment is a layer and a seeded delay after that layer starts (Bronze: after the
# process starts); every layer gets its share of the kills, in a seeded order. A delay counted
# from the process start only would nearly always hit the JVM's start, Bronze or the serving
# stream, which take the first minutes of every run.
RANDOM_DELAY = (3.0, 60.0)
SEED = 15

# What each micro-batch writes, in order (io.MicroBatch counts them): a kill at write n happens
# before the n-th; n = writes + 1 is the finish point, after the last write and before Spark
# commits the batch to its checkpoint.
WRITES = {
    "silver": ("silver_ad_events", "silver_quarantine", "ops_data_quality"),
    "gold": (
        "gold_advertiser_spend",
        "gold_fact_ad_performance",
        "gold_fact_conversions",
        "gold_advertisers",  # only when the batch learns new (id, name) pairs
    ),
}

COMPARED = (
    "bronze_ad_events",
    "silver_ad_events",
    "silver_quarantine",
    "gold_advertiser_spend",
    "gold_fact_conversions",
    "gold_fact_ad_performance",
    "gold_advertisers",
    "gold_serving_advertisers",
    "gold_serving_status",
    "gold_touchpoints",
    "gold_sessions",
    "gold_conversion_paths",
    "gold_attribution",
    "gold_attribution_daily",
    "gold_channel_spend_daily",
    "gold_attribution_comparison",
    "gold_channel_performance",
    "ops_dead_letters",
)
# Columns that say when, or by which stream and batch, a row was written; and the landing
# file's modification time (the roots differ; `file_path` is compared by its file name).
RUN_COLUMNS = frozenset(
    {
        "ingested_at",
        "ingest_date",
        "received_at",  # for landing files, Bronze's ingest time
        "file_modification_time",
        "processed_at",
        "quarantined_at",
        "silver_query_id",
        "silver_batch_id",
        "ingest_year",
        "ingest_month",
        "ingest_day",
        "ingest_hour",
        "serving_query_id",
        "serving_batch_id",
        "updated_at",
        # ops_dead_letters: the writing stream and batch, when, and the Silver row as JSON
        # (which holds Silver's own run columns)
        "query_id",
        "batch_id",
        "dead_lettered_at",
        "record",
    }
)
DATA_QUALITY_TOTALS = (
    "input_rows",
    "valid_rows",
    "inserted_rows",
    "duplicate_rows",
    "quarantined_rows",
)


@dataclass(frozen=True)
class Moment:
    """`delay` seconds after `layer` starts."""

    layer: str
    delay: float

    @classmethod
    def schedule(cls, rng: random.Random) -> Iterator[Moment]:
        """Moments in every layer in turn (each layer's share of kills, in a seeded order),
        at seeded delays."""
        while True:
            layers = CHAIN.split(",")
            rng.shuffle(layers)
            for layer in layers:
                yield cls(layer, round(rng.uniform(*RANDOM_DELAY), 1))

    def started_marker(self) -> str | None:
        """The CLI's line saying the layer before this one is done (None for the first)."""
        layers = CHAIN.split(",")
        position = layers.index(self.layer)
        return f"{layers[position - 1]}: done in" if position else None


@dataclass(frozen=True)
class Step:
    """One run of the chaos phase: land `land` more files, then run the chain and kill it at the
    write point `kill_at_write`, or with SIGKILL after a random delay when None."""

    land: int
    kill_at_write: str | None = None


# Gold's pairs save only happens in a batch that learns an advertiser, so its first batch is
# killed there (gold:4) and then, replayed, at its finish point (gold:5). The other points are
# hit in later batches, which find history in every table. A file lands before most runs, so each
# restart has Silver and Gold batches with clicks, conversions and budget updates to process.
SCHEDULE = (
    Step(1, "gold:4"),
    Step(0, "gold:5"),
    Step(1),
    Step(1, "silver:1"),
    Step(0, "silver:2"),
    Step(0, "silver:3"),
    Step(0, "silver:4"),
    Step(1),
    Step(0),
    Step(1, "gold:1"),
    Step(0, "gold:2"),
    Step(0, "gold:3"),
    Step(1),
    Step(0),
    Step(1),
    Step(0),
    Step(1),
    Step(1),
    Step(0),
)


# ---------------------------------------------------------------------------------------------
# Delta tables as files: versions and data commits, without a Spark session
# ---------------------------------------------------------------------------------------------


def table_dirs(root: Path) -> dict[str, Path]:
    """The Delta tables of a root by name."""
    database = root / "warehouse" / "ad_marketing.db"
    if not database.is_dir():
        return {}
    return {d.name: d for d in sorted(database.iterdir()) if (d / "_delta_log").is_dir()}


def _commits(table_dir: Path) -> Iterator[tuple[int, Path]]:
    for path in (table_dir / "_delta_log").glob("*.json"):
        if path.stem.isdigit():
            yield int(path.stem), path


def delta_version(table_dir: Path) -> int:
    """The table's latest version (-1: none yet)."""
    return max((version for version, _ in _commits(table_dir)), default=-1)


def versions(root: Path) -> dict[str, int]:
    return {name: delta_version(path) for name, path in table_dirs(root).items()}


def wrote_data_since(table_dir: Path, version: int) -> bool:
    """Whether a commit after `version` added or removed data files."""
    for number, path in _commits(table_dir):
        if number > version:
            actions = (json.loads(line) for line in path.read_text().splitlines() if line)
            if any("add" in action or "remove" in action for action in actions):
                return True
    return False


def tables_written_since(root: Path, before: dict[str, int]) -> list[str]:
    return [
        name
        for name, path in table_dirs(root).items()
        if wrote_data_since(path, before.get(name, -1))
    ]


# ---------------------------------------------------------------------------------------------
# The chain in a child process
# ---------------------------------------------------------------------------------------------


@dataclass
class Root:
    """A pipeline root (conf.yml, landing folder, warehouse, checkpoints, cli.log) and the
    generated files it lands in name order."""

    path: Path
    files: list[Path]
    landed: int = 0

    @classmethod
    def create(cls, path: Path, files: list[Path]) -> Root:
        (path / "landing").mkdir(parents=True)
        write_conf(path, CONF)
        return cls(path, files)

    def land(self, count: int) -> None:
        """Land the next `count` files whole: copied under a name the file source ignores
        (keeping the modification time), then renamed into place."""
        for source in self.files[self.landed : self.landed + count]:
            hidden = self.path / "landing" / f".{source.name}.tmp"
            shutil.copy2(source, hidden)
            os.replace(hidden, self.path / "landing" / source.name)
            self.landed += 1

    def checkpoint(self, name: str) -> Path:
        return self.path / "checkpoints" / name

    def start(self, *overrides: str) -> subprocess.Popen[bytes]:
        conf = str(self.path / "conf.yml")
        sets = [arg for override in overrides for arg in ("--set", override)]
        return start_cli(
            self.path, "run", "--layers", CHAIN, "--trigger", "once", "--conf", conf, *sets
        )

    def log_size(self) -> int:
        log = self.path / "cli.log"
        return log.stat().st_size if log.exists() else 0

    def log_since(self, offset: int) -> str:
        with (self.path / "cli.log").open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def note(self, started: float, what: str) -> None:
        # The schedule as it went, shown with -s and in the report of a failure.
        print(f"{time.monotonic() - started:7.1f} s  {what}", flush=True)

    def run_to_completion(self, what: str) -> None:
        started = time.monotonic()
        process = self.start()
        try:
            code = process.wait(RUN_TIMEOUT)
        finally:
            stop(process)
        assert code == 0, f"{what}: the run failed ({code})\n{cli_log(self.path)}"
        self.note(started, f"{what}: completed")

    def kill_at(self, moment: Moment, what: str) -> bool:
        """Run the chain and SIGKILL its process group at `moment`; False when the run
        completed before that."""
        offset = self.log_size()
        started = time.monotonic()
        process = self.start()
        try:
            marker = moment.started_marker()
            while marker is not None and process.poll() is None:
                if marker in self.log_since(offset):
                    break
                if time.monotonic() - started > RUN_TIMEOUT:
                    raise AssertionError(
                        f"{what}: {moment.layer} did not start\n{cli_log(self.path)}"
                    )
                time.sleep(0.2)
            try:
                code = process.wait(moment.delay)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                code = process.wait(60)
        finally:
            stop(process)
        killed = code == -signal.SIGKILL
        assert killed or code == 0, f"{what}: the run failed ({code})\n{cli_log(self.path)}"
        layers_done = self.log_since(offset).count(": done in")
        outcome = f"killed after {layers_done} layers" if killed else "completed before the kill"
        self.note(started, f"{what}: {outcome}")
        return killed

    def kill_at_write(self, point: str, what: str) -> None:
        """Run the chain with `faults.kill_at_write=<point>` and check that it killed itself
        there, before any write of that point or after it."""
        layer, number = point.split(":")
        before = versions(self.path)
        offset = self.log_size()
        started = time.monotonic()
        process = self.start(f"faults.kill_at_write={point}")
        try:
            code = process.wait(RUN_TIMEOUT)
        finally:
            stop(process)
        log = self.log_since(offset)
        assert code == -signal.SIGKILL, f"{what}: no kill at {point} ({code})\n{log[-3000:]}"
        assert f"fault injection: killing the run at {layer} write {number}" in log, log[-3000:]
        not_written = WRITES[layer][int(number) - 1 :]
        written = [name for name in tables_written_since(self.path, before) if name in not_written]
        assert not written, f"{what}: {written} written at or after the kill point {point}"
        self.note(started, f"{what}: killed at {point}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Leave nothing of a run behind (its process group: the JVM and Python workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        process.wait(60)


def run_chaos(root: Root, rng: random.Random) -> None:
    """The chaos phase: SCHEDULE, each random kill redrawn (landing a file more while two are
    left) until RANDOM_KILLS of them hit a running chain (a run may end before its moment);
    then the last files and a run to completion."""
    random_kills, attempts = 0, 0
    steps = list(SCHEDULE)
    moments = Moment.schedule(rng)
    while steps:
        step = steps.pop(0)
        root.land(step.land)
        what = f"{root.landed} files landed"
        if step.kill_at_write is not None:
            root.kill_at_write(step.kill_at_write, what)
            continue
        moment, attempts = next(moments), attempts + 1
        if root.kill_at(moment, f"{what}, SIGKILL {moment.delay} s into {moment.layer}"):
            random_kills += 1
        elif attempts < RANDOM_KILLS + 5:
            steps.insert(0, Step(1 if root.landed < len(root.files) - 1 else 0))
    assert random_kills == RANDOM_KILLS, f"only {random_kills} random kills hit a running chain"
    root.land(len(root.files) - root.landed)
    root.run_to_completion("the rest landed, run to completion")


# ---------------------------------------------------------------------------------------------
# Comparing tables
# ---------------------------------------------------------------------------------------------


def _file_name(path: Column) -> Column:
    return F.element_at(F.split(path, "/"), -1)


def comparable(frame: DataFrame) -> DataFrame:
    """A table's rows as two runs over the same input should agree on them: run columns
    dropped, landing files by name, maps as sorted entries (so rows can be sorted and
    subtracted), doubles rounded to 9 places."""
    columns: list[Column] = []
    for column in frame.schema.fields:
        if column.name in RUN_COLUMNS:
            continue
        value = F.col(f"`{column.name}`")
        data_type = column.dataType
        if column.name == "file_path":
            value = _file_name(value)
        elif isinstance(data_type, StructType) and "received_at" in data_type.fieldNames():
            # gold_serving_status.budget_order: where and when the budget in effect was received
            kept = [
                (_file_name(value[f.name]) if f.name == "file_path" else value[f.name]).alias(
                    f.name
                )
                for f in data_type.fields
                if f.name not in RUN_COLUMNS
            ]
            value = F.when(value.isNotNull(), F.struct(*kept))
        elif isinstance(data_type, MapType):
            value = F.array_sort(F.map_entries(value))
        elif isinstance(data_type, DoubleType | FloatType):
            value = F.round(value, 9)
        columns.append(value.alias(column.name))
    return frame.select(*columns)


def read_table(spark: SparkSession, root: Path, name: str) -> DataFrame:
    return spark.read.format("delta").load(str(root / "warehouse" / "ad_marketing.db" / name))


def difference(name: str, actual: DataFrame, expected: DataFrame) -> str | None:
    """None when the frames hold the same rows (chispa, order ignored); otherwise what differs,
    with a few rows of each side."""
    if actual.schema.simpleString() != expected.schema.simpleString():
        return f"{name}: schema {actual.schema.simpleString()} != {expected.schema.simpleString()}"
    extra, missing = actual.exceptAll(expected), expected.exceptAll(actual)
    extra_rows, missing_rows = extra.count(), missing.count()
    if extra_rows or missing_rows:
        return (
            f"{name}: {extra_rows} rows only in the chaos root, {missing_rows} only in the "
            f"reference ({actual.count()} vs {expected.count()} rows)\n"
            f"  chaos only:     {[row.asDict() for row in extra.limit(3).collect()]}\n"
            f"  reference only: {[row.asDict() for row in missing.limit(3).collect()]}"
        )
    try:
        assert_frames_equal(actual, expected)
    except AssertionError as error:
        return f"{name}: {str(error)[:2_000]}"
    return None


def differences(
    spark: SparkSession, chaos: Path, reference: Path, tables: Iterable[str], when: str
) -> list[str]:
    found = []
    for name in tables:
        actual = comparable(read_table(spark, chaos, name))
        expected = comparable(read_table(spark, reference, name))
        problem = difference(name, actual, expected)
        if problem is not None:
            found.append(f"{when}: {problem}")
    return found


def quality_totals(spark: SparkSession, root: Path) -> DataFrame:
    quality = read_table(spark, root, "ops_data_quality")
    return quality.agg(*(F.sum(name).alias(name) for name in DATA_QUALITY_TOTALS))


def row_counts(spark: SparkSession, root: Path) -> dict[str, int]:
    return {
        name: spark.read.format("delta").load(str(path)).count()
        for name, path in table_dirs(root).items()
    }


def fewer_rows(before: dict[str, int], after: dict[str, int], when: str) -> list[str]:
    return [
        f"{when}: {name} has {after.get(name, 0)} rows, {count} before"
        for name, count in before.items()
        if after.get(name, 0) < count
    ]


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------


def lose_checkpoints(
    spark: SparkSession, chaos: Root, reference: Path, names: Sequence[str]
) -> list[str]:
    """Delete each checkpoint in turn and run the chain again: no table may lose rows, and the
    tables the run wrote (Bronze aside) must still equal the reference."""
    problems: list[str] = []
    for name in names:
        when = f"after deleting the {name} checkpoint"
        before_counts, before_versions = row_counts(spark, chaos.path), versions(chaos.path)
        shutil.rmtree(chaos.checkpoint(name))
        chaos.run_to_completion(when)
        after_counts = row_counts(spark, chaos.path)
        print(
            f"rows {when}: "
            + ", ".join(
                f"{table} {before_counts.get(table, 0)} -> {count}"
                for table, count in after_counts.items()
                if count != before_counts.get(table, 0)
            ),
            flush=True,
        )
        problems += fewer_rows(before_counts, after_counts, when)
        written = tables_written_since(chaos.path, before_versions)
        problems += differences(
            spark,
            chaos.path,
            reference,
            [table for table in COMPARED if table in written and table != "bronze_ad_events"],
            when,
        )
    return problems


def test_sigkill_and_lost_checkpoints_leave_every_table_as_an_uninterrupted_run(
    spark: SparkSession, tmp_path: Path
) -> None:
    summary = write_landing_files(SETTINGS, tmp_path / "generated")
    assert summary.duplicates > 0 and sum(summary.malformed.values()) > 0
    reference = Root.create(tmp_path / "reference", summary.files)
    chaos = Root.create(tmp_path / "chaos", summary.files)

    reference.land(len(summary.files))
    reference.run_to_completion("reference: every file, one uninterrupted run")

    run_chaos(chaos, random.Random(SEED))
    before_second = versions(chaos.path)
    chaos.run_to_completion("chaos: run again")
    rewritten = [
        name
        for name in tables_written_since(chaos.path, before_second)
        if name != "ops_streaming_progress"
    ]

    problems = [f"a second run to completion wrote {rewritten}"] if rewritten else []
    problems += differences(spark, chaos.path, reference.path, COMPARED, "after the chaos runs")
    quality = difference(
        "ops_data_quality totals",
        quality_totals(spark, chaos.path),
        quality_totals(spark, reference.path),
    )
    problems += [f"after the chaos runs: {quality}"] if quality else []
    problems += lose_checkpoints(spark, chaos, reference.path, CHECKPOINTS)

    assert not problems, "\n".join(problems)
