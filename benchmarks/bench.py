"""Benchmark: the pipeline against the Kafka -> Delta ceiling on this machine, in one run.

Every figure comes from one run of this script, on records generated for it:

- throughput (1,000,000 records by default; `--events` for a quicker run): the same records
  sent once to a local Kafka broker, then, per round, a plain Kafka -> Delta append with no
  transformation (the ceiling), Bronze, the serving stream (Kafka -> gold_serving_status),
  Bronze -> Silver, Silver -> Gold and Silver -> attribution into fresh tables; the whole chain
  is Bronze, Silver and Gold one after the other (what `ad-pipeline run --layers
  bronze,silver,gold` does), the whole pipeline adds attribution. A first, smaller round warms
  the JVM up and is not counted; with `--repeats` above 1 the best measured round counts;
- freshness: Bronze, Silver and Gold running continuously every 10 seconds
  (`--chain-interval`) and the serving stream at its own interval, against the broker under a
  steady stream, and, after a warm-up, probe clicks sent every few seconds; each probe's
  freshness is the time from its send to the commit of the first version of
  gold_serving_status (what gold_latest_serving_status shows) and of gold_advertiser_spend
  that includes it (p50, p95);
- per layer (Silver, Gold, attribution), one micro-batch of the 1,000 newest records on top
  of 1 and of 30 days of history (the records before them, out of 100,000 generated over 31
  days, `--history-events`): the batch's seconds and Spark jobs (from ops_streaming_progress),
  and the ratio 30 days / 1 day;
- attribution over the same records (2N conversions: the throughput round's) and over half as
  many generated with the same settings (N);
- the latency of the ad server's warehouse query (serving status of one advertiser), p50;
- the serving app (benchmarks/serving_app.py) on the demo's dataset (`--app-events`):
  can_serve lookups at 2,000/s from this process against the app's own (p50, p99) and as fast
  as 8 connections go, and the report endpoint's p50;
- the driver's peak memory: the whole run fits in the driver's heap (`--driver-memory`, the
  package's default 2g; in local mode the executors share it), its use sampled each second
  (in use, and left after a collection), the JVM's resident set high-water mark, and the
  Python process's.

Results go to benchmarks/results/latest.json and latest.md (the README's table).

    .venv/bin/python benchmarks/bench.py [--events 1000000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, SparkSettings, TableKey
from ad_marketing_pipeline.devtools.generator import (
    GeneratorSettings,
    generate_lines,
    write_landing_files,
)
from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker
from ad_marketing_pipeline.devtools.producer import send_to_kafka
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import run_layers, start_layer, stop_between_batches
from ad_marketing_pipeline.runtime import prepare_runtime
from ad_marketing_pipeline.spark import build_local_session
from serving_app import markdown as serving_app_markdown
from serving_app import serving_app_load

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results"
CHAIN = ("bronze", "silver", "gold")  # what can_serve and the spend tables need
PIPELINE = (*CHAIN, "attribution")
# The serving stream reads the source itself, beside the chain (see serving/stream.py).
STAGES = ("bronze", "serving", "silver", "gold", "attribution")
STAGE_NAMES = {
    "bronze": "kafka_to_bronze",
    "serving": "kafka_to_serving_status",
    "silver": "bronze_to_silver",
    "gold": "silver_to_gold",
    "attribution": "silver_to_attribution",
}
STAGE_GOALS = {"bronze": ">= 0.8 x ceiling", "chain": ">= 0.4 x ceiling"}
PROBE_ADVERTISER = "advertiser-probe"
PROBE_AMOUNT = Decimal("0.01")


def seconds_of(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def kafka_config(
    bootstrap: str, topic: str, root: Path, name: str, **trigger: str
) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "env": "bench",
            "schema": name,
            "paths": {"root": str(root / name)},
            "source": {"kind": "kafka", "bootstrap_servers": bootstrap, "topics": [topic]},
            **({"trigger": trigger} if trigger else {}),
        }
    )


def files_config(root: Path, name: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {"env": "bench", "schema": name, "paths": {"root": str(root / name)}}
    )


def run_once(spark: SparkSession, config: PipelineConfig, layers: list[str]) -> float:
    return seconds_of(
        lambda: run_layers(prepare_runtime(spark, config, environ={}), layers, StreamTrigger())
    )


# ---------------------------------------------------------------------------------------------
# Throughput: the ceiling and each layer, on the same records
# ---------------------------------------------------------------------------------------------


def kafka_ceiling(spark: SparkSession, bootstrap: str, topic: str, folder: Path) -> None:
    """Kafka -> Delta with no transformation at all: the fastest this machine can land them."""
    source = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
    )
    query = (
        source.writeStream.format("delta")
        .option("checkpointLocation", str(folder / "_checkpoint"))
        .trigger(availableNow=True)
        .start(str(folder / "table"))
    )
    query.awaitTermination()


def throughput_round(
    spark: SparkSession, bootstrap: str, topic: str, work: Path, name: str
) -> dict[str, float]:
    """Seconds of the ceiling and of each chain layer, into fresh tables."""
    seconds = {"ceiling": seconds_of(lambda: kafka_ceiling(spark, bootstrap, topic, work / name))}
    config = kafka_config(bootstrap, topic, work, f"{name}_chain")
    for layer in STAGES:
        seconds[layer] = run_once(spark, config, [layer])
    return seconds


def send_lines(broker: LocalKafkaBroker, topic: str, lines: list[str]) -> float:
    broker.create_topic(topic, partitions=3)
    producer_config = {"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 20}
    return seconds_of(lambda: send_to_kafka(lines, producer_config=producer_config, topic=topic))


def generated_settings(events: int) -> GeneratorSettings:
    """The benchmark's records: 50 advertisers over 31 days (30 days of history before the
    last day), the default shares of malformed and duplicate lines."""
    return GeneratorSettings(events=events, advertisers=50, days=31, seed=11)


def throughput(
    spark: SparkSession, broker: LocalKafkaBroker, lines: list[str], repeats: int, work: Path
) -> tuple[dict[str, Any], PipelineConfig]:
    events = len(lines)
    warm_up = [line.text for line in generate_lines(GeneratorSettings(events=5_000, seed=5))]
    send_seconds = send_lines(broker, "bench-events", lines)
    send_lines(broker, "bench-warm-up", warm_up)
    bootstrap = broker.bootstrap_servers
    throughput_round(spark, bootstrap, "bench-warm-up", work, "warm_up")
    rounds = [
        throughput_round(spark, bootstrap, "bench-events", work, f"round_{number}")
        for number in range(repeats)
    ]
    best = {stage: min(r[stage] for r in rounds) for stage in rounds[0]}
    best["chain"] = min(sum(r[layer] for layer in CHAIN) for r in rounds)
    best["pipeline"] = min(sum(r[layer] for layer in PIPELINE) for r in rounds)
    ceiling = events / best["ceiling"]

    def figures(stage: str) -> dict[str, Any]:
        rate = events / best[stage]
        return {
            "events_per_second": round(rate),
            "ratio": round(rate / ceiling, 3),
            "seconds": round(best[stage], 2),
            **({"goal": STAGE_GOALS[stage]} if stage in STAGE_GOALS else {}),
        }

    stages = {
        "kafka_to_delta_ceiling": figures("ceiling"),
        **{STAGE_NAMES[layer]: figures(layer) for layer in STAGES},
        "whole_chain": figures("chain"),
        "whole_pipeline": figures("pipeline"),
    }
    result = {
        "events": events,
        "repeats": repeats,
        "producer_events_per_second": round(events / send_seconds),
        "stages": stages,
        "seconds_per_round": [{k: round(v, 2) for k, v in r.items()} for r in rounds],
    }
    return result, kafka_config(bootstrap, "bench-events", work, f"round_{repeats - 1}_chain")


# ---------------------------------------------------------------------------------------------
# Freshness in continuous mode
# ---------------------------------------------------------------------------------------------


def probe_click(at: datetime) -> str:
    click_id = f"probe-{uuid.uuid4().hex}"
    return json.dumps(
        {
            "event_id": click_id,
            "event_type": "ad_click",
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "advertiser": PROBE_ADVERTISER,
            "ad_id": "ad-probe",
            "click_id": click_id,
            "amount": str(PROBE_AMOUNT),
            "currency": "USD",
        }
    )


@dataclass
class SteadyStream:
    """Sends `rate` background events per second and, after `warm_up` seconds (the streams'
    first batches compile their plans and create their tables), every `probe_every` seconds
    one probe click (flushed at once; its send time, wall clock, is recorded in `sent_at`)
    until `probes` were sent or `stop` is set."""

    bootstrap: str
    topic: str
    background: Iterator[str]
    rate: float
    probe_every: float
    probes: int
    warm_up: float
    sent_at: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        probe_time = datetime.now(UTC).replace(microsecond=0)  # one hour, one budget day
        next_probe = time.monotonic() + self.warm_up + self.probe_every
        tick = 0.1
        while len(self.sent_at) < self.probes and not self.stop.is_set():
            for _ in range(max(1, round(self.rate * tick))):
                producer.produce(self.topic, value=next(self.background).encode())
            producer.poll(0)
            if time.monotonic() >= next_probe:
                sent = time.time()
                producer.produce(self.topic, value=probe_click(probe_time).encode())
                producer.flush(10)
                self.sent_at.append(sent)
                next_probe += self.probe_every
            time.sleep(tick)
        producer.flush(10)


def probe_spend(spark: SparkSession, table: str, version: int | None = None) -> Decimal:
    """The probe advertiser's spend as gold_latest_serving_status shows it (spend of the
    current period), in `table` (gold_serving_status) now or as of a version."""
    as_of = "" if version is None else f" VERSION AS OF {version}"
    row = spark.sql(
        f"SELECT spend_to_date FROM {table}{as_of} "
        "WHERE advertiser = :advertiser AND period_start = current_period_start",
        args={"advertiser": PROBE_ADVERTISER},
    ).first()
    return Decimal(0) if row is None or row[0] is None else Decimal(row[0])


def probe_gold_spend(spark: SparkSession, table: str, version: int | None = None) -> Decimal:
    """The probe advertiser's gross spend in `table` (gold_advertiser_spend) now or as of a
    version (the probes are all in one hour)."""
    as_of = "" if version is None else f" VERSION AS OF {version}"
    row = spark.sql(
        f"SELECT sum(gross_spend) FROM {table}{as_of} WHERE advertiser = :advertiser",
        args={"advertiser": PROBE_ADVERTISER},
    ).first()
    return Decimal(0) if row is None or row[0] is None else Decimal(row[0])


SpendOf = Callable[[SparkSession, str, int | None], Decimal]


def spend_by_commit(
    spark: SparkSession, table: str, since: float, spend_of: SpendOf
) -> list[tuple[float, Decimal]]:
    """(commit time, probe spend) of each version of `table` committed from `since` (wall
    clock) on, oldest first: when each change became visible to readers."""
    history = spark.sql(f"DESCRIBE HISTORY {table}").select("version", "timestamp").collect()
    commits = sorted(
        (row["timestamp"].replace(tzinfo=UTC).timestamp(), int(row["version"])) for row in history
    )
    return [
        (committed, spend_of(spark, table, version))
        for committed, version in commits
        if committed >= since
    ]


def probe_lags(sent_at: list[float], commits: list[tuple[float, Decimal]]) -> dict[str, Any]:
    """Each probe's lag from its send to the first commit whose spend includes it (the i-th
    probe is seen once the spend reaches i probes' amounts): p50 and p95 over those seen."""
    lags = []
    for index, sent in enumerate(sent_at):
        expected = (index + 1) * PROBE_AMOUNT
        shown = next((at for at, spend in commits if spend >= expected), None)
        if shown is not None:
            lags.append(shown - sent)
    if not lags:
        return {"probes_seen": 0, "error": "no probe became visible"}
    return {
        "probes_seen": len(lags),
        "p50_seconds": round(statistics.median(lags), 2),
        "p95_seconds": round(percentile(lags, 0.95), 2),
    }


def freshness(
    spark: SparkSession,
    broker: LocalKafkaBroker,
    work: Path,
    *,
    rate: float,
    probes: int,
    probe_every: float,
    warm_up: float,
    chain_interval: str,
) -> dict[str, Any]:
    """Freshness while Bronze, Silver and Gold run continuously every `chain_interval` and the
    serving stream at its own configured interval, in this session: of the serving status
    (`gold_latest_serving_status`, what an ad server reads) and of Gold's own spend
    (`gold_advertiser_spend`). A probe's freshness is the time from its send to the commit of
    the first version of the table that shows it: when a reader asking then would have seen
    it, without the bench's own polling in the way."""
    topic = "bench-freshness"
    broker.create_topic(topic, partitions=3)
    config = kafka_config(
        broker.bootstrap_servers, topic, work, "freshness", processing_time=chain_interval
    )
    runtime = prepare_runtime(spark, config, environ={})
    enough = round(rate * (warm_up + probes * probe_every + 300))  # more than the run can send
    background = (line.text for line in generate_lines(GeneratorSettings(events=enough, seed=3)))
    status = config.table(TableKey.GOLD_SERVING_STATUS)
    spend = config.table(TableKey.GOLD_ADVERTISER_SPEND)
    trigger = StreamTrigger(processing_time=chain_interval)
    queries = [start_layer(runtime, layer, trigger) for layer in STAGES if layer != "attribution"]
    stream = SteadyStream(
        broker.bootstrap_servers, topic, background, rate, probe_every, probes, warm_up
    )
    sender = threading.Thread(target=stream.run)
    try:
        sender.start()
        sender.join()
        all_probes = probes * PROBE_AMOUNT
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (
            probe_spend(spark, status) < all_probes or probe_gold_spend(spark, spend) < all_probes
        ):
            time.sleep(5.0)
    finally:
        stream.stop.set()
        sender.join()
        for query in queries:
            stop_between_batches(query)
    since = stream.sent_at[0] if stream.sent_at else time.time()
    return {
        "probes": len(stream.sent_at),
        "background_events_per_second": rate,
        "chain_interval": chain_interval,
        "serving_interval": config.serving.processing_time,
        "serving_status": {
            **probe_lags(stream.sent_at, spend_by_commit(spark, status, since, probe_spend)),
            "goal": "p50 <= 5 s, p95 <= 15 s",
        },
        "gold_advertiser_spend": {
            **probe_lags(stream.sent_at, spend_by_commit(spark, spend, since, probe_gold_spend)),
            "goal": "p50 <= 30 s",
        },
    }


# ---------------------------------------------------------------------------------------------
# Incremental Gold: one new hour on top of 1 day vs 30 days of history
# ---------------------------------------------------------------------------------------------


def _event_time(line: str) -> str:
    """The line's UTC event time as 'YYYY-MM-DDTHH:MM:SS', '' for lines without a valid one
    (malformed lines go with the history)."""
    try:
        value = json.loads(line).get("timestamp")
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


INCREMENTAL_LAYERS = ("silver", "gold", "attribution")


def last_run_batches(spark: SparkSession, config: PipelineConfig, layer: str) -> dict[str, int]:
    """The micro-batches of `layer`'s last run, from ops_streaming_progress: how many, the
    rows they read, their summed duration (ms) and the Spark jobs they ran."""
    progress = spark.table(config.table(TableKey.OPS_STREAMING_PROGRESS)).filter(
        F.col("query_name") == layer
    )
    last = progress.orderBy(F.col("recorded_at").desc()).select("run_id").first()
    assert last is not None, f"no progress recorded for {layer}"
    row = (
        progress.filter(F.col("run_id") == last["run_id"])
        .agg(
            F.count(F.lit(1)).alias("batches"),
            F.sum("input_rows").alias("rows"),
            F.sum("batch_duration_ms").alias("duration_ms"),
            F.sum("spark_jobs").alias("spark_jobs"),
        )
        .first()
    )
    assert row is not None
    return {name: int(row[name] or 0) for name in ("batches", "rows", "duration_ms", "spark_jobs")}


def incremental_costs(
    spark: SparkSession, lines: list[str], work: Path, batch_events: int = 1_000
) -> dict[str, object]:
    """Per layer (Silver, Gold, attribution), the micro-batch that processes `batch_events`
    new records (the newest by event time) on top of the day before them and on top of the 30
    days before them (the same records for both): its seconds (the batch's duration, without
    the stream's start) and the Spark jobs it ran, from ops_streaming_progress. Two new batches
    are added one after the other and the cheaper counts, so that neither history pays for a
    cold start."""
    timed = sorted(((_event_time(line), line) for line in lines), key=lambda pair: pair[0])
    newest = [line for _, line in timed[-2 * batch_events :]]
    new_batches = [newest[:batch_events], newest[batch_events:]]
    older = [(at, line) for at, line in timed[: -2 * batch_events]]
    first_new = _event_time(new_batches[0][0]) or timed[-2 * batch_events][0]
    day_before = (datetime.fromisoformat(first_new) - timedelta(days=1)).isoformat()
    histories = {
        "1_day": [line for at, line in older if at >= day_before or not at],
        "30_days": [line for _, line in older],
    }
    measured: dict[str, dict[str, dict[str, int]]] = {layer: {} for layer in INCREMENTAL_LAYERS}
    for name, history in histories.items():
        config = files_config(work, f"incremental_{name}")
        landing = Path(config.landing_path)
        landing.mkdir(parents=True)
        (landing / "history.jsonl").write_text("\n".join(history) + "\n")
        run_once(spark, config, ["bronze", *INCREMENTAL_LAYERS])
        runs: dict[str, list[dict[str, int]]] = {layer: [] for layer in INCREMENTAL_LAYERS}
        for number, batch in enumerate(new_batches):
            (landing / f"new-{number}.jsonl").write_text("\n".join(batch) + "\n")
            run_once(spark, config, ["bronze"])
            for layer in INCREMENTAL_LAYERS:
                run_once(spark, config, [layer])
                runs[layer].append(last_run_batches(spark, config, layer))
        for layer in INCREMENTAL_LAYERS:
            measured[layer][name] = min(runs[layer], key=lambda run: run["duration_ms"])
    layers: dict[str, object] = {}
    for layer, by_history in measured.items():
        one_day, thirty_days = by_history["1_day"], by_history["30_days"]
        layers[layer] = {
            "batch_rows": one_day["rows"],
            "batches": one_day["batches"],
            "seconds": {
                name: round(run["duration_ms"] / 1000, 2) for name, run in by_history.items()
            },
            "spark_jobs": {name: run["spark_jobs"] for name, run in by_history.items()},
            "ratio_30_to_1": round(thirty_days["duration_ms"] / max(one_day["duration_ms"], 1), 2),
        }
    return {
        "batch_events": batch_events,
        "history_events": {name: len(history) for name, history in histories.items()},
        "layers": layers,
        "goals": "one 1,000-event batch <= 3 s per layer; 30 days <= 1.5 x 1 day",
    }


# ---------------------------------------------------------------------------------------------
# Attribution: N vs 2N conversions
# ---------------------------------------------------------------------------------------------


def attribution_scaling(
    spark: SparkSession, chain: PipelineConfig, seconds_2n: float, events: int, work: Path
) -> dict[str, object]:
    """Seconds of the attribution run over the throughput records (2N: the throughput round's
    silver_to_attribution, `seconds_2n`) and over half as many generated with the same settings
    (N)."""
    half = files_config(work, "attribution_n")
    write_landing_files(generated_settings(events // 2), Path(half.landing_path))
    run_once(spark, half, ["bronze", "silver"])
    seconds = {"N": run_once(spark, half, ["attribution"]), "2N": seconds_2n}
    conversions = {
        name: spark.table(config.table(TableKey.SILVER_EVENTS))
        .filter("event_type = 'conversion'")
        .count()
        for name, config in (("N", half), ("2N", chain))
    }
    return {
        "conversions": conversions,
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "ratio_2n_to_n": round(seconds["2N"] / seconds["N"], 2),
        "goal": "2N <= 2.2 x N",
    }


# ---------------------------------------------------------------------------------------------
# The ad server's warehouse query, and memory
# ---------------------------------------------------------------------------------------------


SERVING_STATUS_OF_ONE = (
    "SELECT advertiser, latest_can_serve, budget_value, spend_to_date, as_of "
    "FROM {table} WHERE advertiser = :advertiser"
)


def warehouse_query_latency(
    spark: SparkSession, config: PipelineConfig, repeats: int = 30
) -> dict[str, object]:
    """p50 of the ad server's question, may this advertiser serve now, on the chain's Gold."""
    spend = spark.table(config.table(TableKey.GOLD_ADVERTISER_SPEND))
    advertiser = spend.select("advertiser").first()[0]  # type: ignore[index]
    text = SERVING_STATUS_OF_ONE.format(table=config.table(TableKey.GOLD_LATEST_SERVING_STATUS))

    def ask() -> None:
        spark.sql(text, args={"advertiser": advertiser}).collect()

    ask()  # warm: plan and file cache
    timings = [seconds_of(ask) for _ in range(repeats)]
    return {
        "query": "serving status of one advertiser",
        "spend_rows": spend.count(),
        "p50_ms": round(statistics.median(timings) * 1000, 1),
        "p95_ms": round(percentile(timings, 0.95) * 1000, 1),
        "goal": "p50 <= 200 ms",
    }


class HeapSampler:
    """Samples the driver JVM's heap every `every` seconds on a thread of its own, from start to
    stop: the most heap in use at a sample (garbage not yet collected included), and the most
    left after a collection (the sum of each heap pool's usage after its last collection: the
    live data the driver really held)."""

    def __init__(self, spark: SparkSession, every: float = 1.0) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        self._management = jvm.java.lang.management.ManagementFactory
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_used = 0
        self.peak_live = 0

    def _sample(self) -> None:
        used = int(self._management.getMemoryMXBean().getHeapMemoryUsage().getUsed())
        live = 0
        for pool in self._management.getMemoryPoolMXBeans():
            after = pool.getCollectionUsage()
            if str(pool.getType().name()) == "HEAP" and after is not None:
                live += int(after.getUsed())
        self.peak_used, self.peak_live = max(self.peak_used, used), max(self.peak_live, live)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._sample()
            except Exception:  # the session is stopping: keep what was sampled
                return

    def __enter__(self) -> HeapSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def driver_peak_memory(spark: SparkSession, heap: HeapSampler) -> dict[str, object]:
    """Peak memory of the driver: its JVM's heap (sampled, see HeapSampler) and resident set
    (VmHWM), and this Python process's resident set."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    pid = int(jvm.java.lang.ProcessHandle.current().pid())
    status = Path(f"/proc/{pid}/status").read_text()
    high_water_kb = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
    )
    return {
        "jvm_peak_heap_used_mb": round(heap.peak_used / 2**20),
        "jvm_peak_heap_live_mb": round(heap.peak_live / 2**20),
        "jvm_peak_rss_mb": round(high_water_kb / 1024),
        "jvm_max_heap_mb": round(int(jvm.java.lang.Runtime.getRuntime().maxMemory()) / 2**20),
        "python_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "goal": "heap <= 2,048 MB",
    }


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    run = result["throughput"]
    rows = [
        "| stage | events/s | ratio to ceiling | seconds | goal |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {name} | {figures['events_per_second']:,} | {figures['ratio']:.2f} "
            f"| {figures['seconds']} | {figures.get('goal', '')} |"
            for name, figures in run["stages"].items()
        ),
    ]
    sections = [
        f"{run['events']:,} generated events, best of {run['repeats']} rounds after a warm-up, "
        f"{result['machine']}, {result['measured_at']}; the whole run took "
        f"{result['total_minutes']} min.",
        "\n".join(rows),
    ]
    fresh = result["freshness"]
    sections.append(
        f"Freshness in continuous mode (the serving stream every {fresh['serving_interval']}, "
        f"Bronze, Silver and Gold every {fresh['chain_interval']}; {fresh['probes']} probe "
        f"clicks under {fresh['background_events_per_second']:g} events/s, each timed from its "
        "send to the commit that shows it):\n\n"
        + "\n".join(
            [
                "| table | probes seen | p50 s | p95 s | goal |",
                "|---|---:|---:|---:|---|",
                *(
                    f"| {table} | {lag['probes_seen']} | {lag.get('p50_seconds', '-')} "
                    f"| {lag.get('p95_seconds', '-')} | {lag['goal']} |"
                    for table, lag in (
                        ("gold_latest_serving_status", fresh["serving_status"]),
                        ("gold_advertiser_spend", fresh["gold_advertiser_spend"]),
                    )
                ),
            ]
        )
    )
    incremental = result["incremental"]
    history = incremental["history_events"]
    sections.append(
        f"One micro-batch of the {incremental['batch_events']:,} newest records per layer, on "
        f"top of 1 day ({history['1_day']:,} records) and of 30 days ({history['30_days']:,}) "
        "of history; seconds are the batch's own (ops_streaming_progress.batch_duration_ms, "
        "no stream start), jobs its Spark jobs (goals: at most 3 s; 30 days at most 1.5 x "
        "1 day):\n\n"
        + "\n".join(
            [
                "| layer | rows | seconds, 1 day | seconds, 30 days | 30 d / 1 d "
                "| Spark jobs, 1 day | Spark jobs, 30 days |",
                "|---|---:|---:|---:|---:|---:|---:|",
                *(
                    f"| {layer} | {figures['batch_rows']:,} | {figures['seconds']['1_day']} "
                    f"| {figures['seconds']['30_days']} | {figures['ratio_30_to_1']} "
                    f"| {figures['spark_jobs']['1_day']} | {figures['spark_jobs']['30_days']} |"
                    for layer, figures in incremental["layers"].items()
                ),
            ]
        )
    )
    attribution = result["attribution_scaling"]
    sections.append(
        f"Attribution: {attribution['conversions']['N']:,} conversions in "
        f"{attribution['seconds']['N']} s, {attribution['conversions']['2N']:,} in "
        f"{attribution['seconds']['2N']} s: {attribution['ratio_2n_to_n']} x "
        "(goal: at most 2.2 x)."
    )
    query = result["warehouse_query"]
    sections.append(
        f"Warehouse query `{query['query']}` (gold_latest_serving_status, over "
        f"gold_serving_status: one row per advertiser) on the chain's Gold "
        f"({query['spend_rows']:,} advertiser-hours): p50 {query['p50_ms']} ms, "
        f"p95 {query['p95_ms']} ms (goal: p50 <= 200 ms)."
    )
    if "serving_app" in result:
        sections.append(serving_app_markdown(result["serving_app"]))
    memory = result["driver_memory"]
    sections.append(
        f"Driver peak memory over the whole run: JVM heap {memory['jvm_peak_heap_used_mb']:,} "
        f"MB in use at most (sampled each second, uncollected garbage included), "
        f"{memory['jvm_peak_heap_live_mb']:,} MB at most left after a collection (heap limit "
        f"{memory['jvm_max_heap_mb']:,} MB; goal: heap <= 2,048 MB); JVM "
        f"{memory['jvm_peak_rss_mb']:,} MB resident; Python {memory['python_peak_rss_mb']:,} MB."
    )
    return "\n\n".join(sections) + "\n"


def save(result: dict[str, Any]) -> None:
    """Write what was measured so far (a run cut short still leaves its figures)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")


def measure(
    spark: SparkSession,
    broker: LocalKafkaBroker,
    work: Path,
    args: argparse.Namespace,
    result: dict[str, Any],
) -> None:
    """Every measurement, in order, into `result` (saved after each)."""
    lines = [line.text for line in generate_lines(generated_settings(args.events))]
    result["throughput"], chain = throughput(spark, broker, lines, args.repeats, work)
    result["warehouse_query"] = warehouse_query_latency(spark, chain)
    save(result)
    print("throughput done", flush=True)
    result["attribution_scaling"] = attribution_scaling(
        spark,
        chain,
        result["throughput"]["stages"]["silver_to_attribution"]["seconds"],
        args.events,
        work,
    )
    save(result)
    print("attribution done", flush=True)
    history = (
        lines
        if len(lines) <= args.history_events
        else [line.text for line in generate_lines(generated_settings(args.history_events))]
    )
    result["incremental"] = incremental_costs(
        spark, history, work, batch_events=min(1_000, len(history) // 20)
    )
    save(result)
    print("incremental batches done", flush=True)
    result["serving_app"] = serving_app_load(spark, work, events=args.app_events)
    save(result)
    print("serving app done", flush=True)
    result["freshness"] = freshness(
        spark,
        broker,
        work,
        rate=args.freshness_rate,
        probes=args.probes,
        probe_every=args.probe_every,
        warm_up=args.warm_up,
        chain_interval=args.chain_interval,
    )
    save(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="throughput records")
    parser.add_argument("--repeats", type=int, default=1, help="measured throughput rounds")
    parser.add_argument(
        "--history-events",
        type=int,
        default=100_000,
        help="records of the incremental batches' history (31 days; the throughput records "
        "themselves when there are no more of them)",
    )
    parser.add_argument(
        "--driver-memory",
        default=SparkSettings().driver_memory,
        help="the driver JVM's heap (local mode: the executors' too); the run fits in it",
    )
    parser.add_argument(
        "--app-events",
        type=int,
        default=200_000,
        help="events of the dataset the serving app is loaded on (the demo's)",
    )
    parser.add_argument("--freshness-rate", type=float, default=200.0, help="events/s")
    parser.add_argument("--probes", type=int, default=20, help="freshness probes")
    parser.add_argument("--probe-every", type=float, default=3.0, help="seconds between probes")
    parser.add_argument(
        "--warm-up", type=float, default=45.0, help="seconds of steady stream before the probes"
    )
    parser.add_argument(
        "--chain-interval",
        default="10 seconds",
        help="micro-batch interval of Bronze, Silver and Gold while freshness is measured (the "
        "serving stream keeps serving.processing_time)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ad-bench-") as folder:
        work = Path(folder)
        broker = LocalKafkaBroker(REPO_ROOT / ".jars" / "kafka", work / "kafka")
        broker.start()
        try:
            spark = build_local_session(
                SparkSettings(driver_memory=args.driver_memory),
                str(work / "warehouse"),
                cwd=REPO_ROOT,
            )
            result: dict[str, Any] = {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            }
            with HeapSampler(spark) as heap:
                measure(spark, broker, work, args, result)
            result["driver_memory"] = driver_peak_memory(spark, heap)
            spark.stop()
        finally:
            broker.stop()
    result["total_minutes"] = round((time.perf_counter() - started) / 60, 1)
    save(result)
    table = markdown(result)
    (RESULTS / "latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
