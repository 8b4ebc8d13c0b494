"""The serving app under load (part of `make bench`, or alone: `python benchmarks/serving_app.py`).

Every layer runs over the demo's dataset (200,000 generated events, 50 advertisers, 30 days);
then the app (`python -m ad_marketing_pipeline.app`, one uvicorn process) serves those tables
and this process loads it over loopback HTTP/1.1 keep-alive connections:

- can_serve lookups at a fixed rate (open loop: each request is due at its own time and its
  latency counts from then, so a stall is not hidden), then as fast as the connections go;
- the report endpoint over the whole dataset's window for the busiest campaign, one at a time.

Goals (issue 19): lookups p99 <= 5 ms at 2,000 lookups/s; the report p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ad_marketing_pipeline.config import PipelineConfig, SparkSettings, TableKey
from ad_marketing_pipeline.devtools.generator import GeneratorSettings, write_landing_files
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.pipeline import LAYERS, run_layers
from ad_marketing_pipeline.runtime import prepare_runtime
from ad_marketing_pipeline.spark import build_local_session

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "bench_app"
MAX_CONNECTIONS = 64


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


class Connection:
    """One keep-alive HTTP/1.1 connection: GET a path, read the whole reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        status_line = await self.reader.readline()
        length = 0
        while (header := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


async def _fixed_rate(port: int, paths: list[str], rate: float, seconds: float) -> dict[str, Any]:
    """`rate` lookups/s for `seconds` over a pool of connections (a free one takes the next
    due request; more are opened, up to MAX_CONNECTIONS, when all are busy); latency from each
    request's due time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(8):
        pool.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.2
    total = int(rate * seconds)

    opened = pool.qsize()

    async def one(due: float, path: str) -> None:
        nonlocal errors, opened
        if pool.empty() and opened < MAX_CONNECTIONS:
            opened += 1
            connection = await Connection.open(port)
        else:
            connection = await pool.get()
        status = await connection.get(path)
        latencies.append(time.perf_counter() - due)
        errors += status != 200
        pool.put_nowait(connection)

    tasks = []
    for number in range(total):
        due = start + number / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, paths[number % len(paths)])))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    return {
        "connections": opened,
        "target_per_second": rate,
        "achieved_per_second": round(total / elapsed),
        "requests": total,
        "errors": errors,
        "p50_ms": _ms(statistics.median(latencies)),
        "p99_ms": _ms(_percentile(latencies, 0.99)),
        "max_ms": _ms(max(latencies)),
    }


async def _flat_out(port: int, paths: list[str], seconds: float, connections: int) -> int:
    """Lookups/s with `connections` clients each sending its next request on the last reply."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal done
        connection = await Connection.open(port)
        number = offset
        while time.perf_counter() < deadline:
            await connection.get(paths[number % len(paths)])
            number += connections
            done += 1
        connection.close()

    await asyncio.gather(*(client(offset) for offset in range(connections)))
    return round(done / seconds)


async def _sequential(port: int, paths: list[str]) -> dict[str, Any]:
    connection = await Connection.open(port)
    timings = []
    for path in paths:
        started = time.perf_counter()
        status = await connection.get(path)
        assert status == 200, status
        timings.append(time.perf_counter() - started)
    connection.close()
    return {
        "requests": len(paths),
        "p50_ms": _ms(statistics.median(timings)),
        "p95_ms": _ms(_percentile(timings, 0.95)),
    }


def _wait_for(port: int, app: subprocess.Popen[bytes]) -> None:
    async def ready() -> bool:
        try:
            connection = await Connection.open(port)
        except OSError:
            return False
        status = await connection.get("/healthz")
        connection.close()
        return status == 200

    deadline = time.monotonic() + 60
    while not asyncio.run(ready()):
        if time.monotonic() > deadline or app.poll() is not None:
            raise RuntimeError("the app did not start")
        time.sleep(0.2)


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serving_app_load(
    spark: SparkSession, work: Path, *, events: int = 200_000, rate: float = 2_000
) -> dict[str, Any]:
    """Run every layer over the demo's dataset under `work`, start the app on its tables in a
    process of its own, and measure it (see the module docstring)."""
    root = work / "serving_app"
    config = PipelineConfig.model_validate(
        {
            "env": "bench",
            "schema": SCHEMA,
            "paths": {"root": str(root), "warehouse": str(work / "warehouse")},
        }
    )
    settings = GeneratorSettings(events=events)  # the demo's dataset: its advertisers and days
    write_landing_files(settings, Path(config.landing_path))
    started = time.perf_counter()
    run_layers(prepare_runtime(spark, config, environ={}), list(LAYERS), StreamTrigger())
    pipeline_seconds = round(time.perf_counter() - started, 1)

    status = spark.table(config.table(TableKey.GOLD_SERVING_STATUS))
    advertisers = [row.advertiser_id for row in status.select("advertiser_id").collect()]
    performance = spark.table(config.table(TableKey.GOLD_FACT_AD_PERFORMANCE))
    busiest = (
        performance.groupBy("campaign_id")
        .agg(F.sum("clicks").alias("clicks"))
        .orderBy(F.desc("clicks"))
        .first()["campaign_id"]  # type: ignore[index]
    )
    span = performance.agg(F.min("performance_date"), F.max("performance_date")).first()
    assert span is not None

    port = _free_port()
    app = subprocess.Popen(
        [
            sys.executable, "-m", "ad_marketing_pipeline.app",
            "--env", "local", "--port", str(port),
            "--set", f"paths.root={root}", "--set", f"paths.warehouse={work / 'warehouse'}",
            "--set", f"schema={SCHEMA}",
            # The data is minutes old by now: measure the data path, not the stale policy.
            "--set", "app.max_data_age_seconds=86400",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
    )  # fmt: skip
    try:
        _wait_for(port, app)
        lookups = [f"/v1/advertisers/{advertiser}/serving" for advertiser in advertisers]
        random.Random(1).shuffle(lookups)
        asyncio.run(_fixed_rate(port, lookups, rate / 4, 2))  # warm-up
        gc.disable()  # the load generator's own collections would show as server latency
        try:
            at_rate = asyncio.run(_fixed_rate(port, lookups, rate, 15))
        finally:
            gc.enable()
        most = asyncio.run(_flat_out(port, lookups, 5, connections=8))
        # Each window ends a second later than the one before, so no answer comes from the
        # reader's cache of results: every report reads the tables.
        reports = [
            f"/v1/report?campaign_id={busiest}&start={span[0]}&end={span[1]}T23:59:{second:02d}Z"
            for second in range(45)
        ]
        asyncio.run(_sequential(port, reports[:5]))  # warm-up
        report = asyncio.run(_sequential(port, reports[5:]))
    finally:
        app.terminate()
        app.wait(timeout=30)
    return {
        "events": events,
        "advertisers": len(advertisers),
        "pipeline_seconds": pipeline_seconds,
        "lookups_at_rate": {**at_rate, "goal": "p99 <= 5 ms at 2,000 lookups/s"},
        "lookups_flat_out_per_second": most,
        "report": {
            **report,
            "window": f"{span[0]} .. {span[1]}, campaign {busiest}",
            "goal": "p50 <= 50 ms",
        },
    }


def markdown(figures: dict[str, Any]) -> str:
    at_rate, report = figures["lookups_at_rate"], figures["report"]
    return (
        f"Serving app (one uvicorn process; load from the benchmark's process over loopback) on "
        f"the demo's {figures['events']:,} events ({figures['advertisers']} advertisers): "
        f"can_serve lookups at {at_rate['target_per_second']:,.0f}/s for "
        f"{at_rate['requests']:,} requests: p50 {at_rate['p50_ms']} ms, p99 "
        f"{at_rate['p99_ms']} ms, max {at_rate['max_ms']} ms, {at_rate['errors']} errors "
        f"(goal: {at_rate['goal']}); as fast as 8 connections go: "
        f"{figures['lookups_flat_out_per_second']:,} lookups/s. Report endpoint "
        f"({report['window']}): p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms "
        f"(goal: {report['goal']})."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=2_000, help="lookups/s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ad-bench-app-") as folder:
        work = Path(folder)
        spark = build_local_session(SparkSettings(), str(work / "warehouse"), cwd=REPO_ROOT)
        try:
            figures = serving_app_load(spark, work, events=args.events, rate=args.rate)
        finally:
            spark.stop()
    print(json.dumps(figures, indent=2))
    print(markdown(figures))


if __name__ == "__main__":
    main()
