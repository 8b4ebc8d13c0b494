"""The pipeline: its layers in order, and the runner the CLI, the bundle's jobs and the notebooks
call.

    source -> bronze -> silver -> gold -> attribution      (and source -> serving)

A run with the `once` trigger runs the chosen layers one after the other, each to completion
(availableNow); a `continuous` run starts them all and reports progress until stopped (Ctrl-C
or SIGTERM stop it between batches). Each layer's shape is `streams.Layer`; the runner creates
the tables of the layers it starts (provisioning) and starts each with `streams.start_stream`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from pyspark.sql.streaming.query import StreamingQuery

from ad_marketing_pipeline.attribution.stream import ATTRIBUTION
from ad_marketing_pipeline.bronze.stream import BRONZE
from ad_marketing_pipeline.errors import PipelineError
from ad_marketing_pipeline.gold.stream import GOLD
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.ops import recording_progress
from ad_marketing_pipeline.provisioning import ensure_tables
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.serving.stream import SERVING
from ad_marketing_pipeline.silver.stream import SILVER
from ad_marketing_pipeline.streams import Layer, start_stream
from ad_marketing_pipeline.tables import OPS_STREAMING_PROGRESS

# The layers in pipeline order (the order a `once` run takes them in).
LAYERS: dict[str, Layer] = {
    layer.name: layer for layer in (BRONZE, SERVING, SILVER, GOLD, ATTRIBUTION)
}


def start_layer(runtime: Runtime, layer: str, trigger: StreamTrigger) -> StreamingQuery:
    """Create the tables of one layer (if missing) and start its stream."""
    ensure_tables(runtime, LAYERS[layer].tables)
    return start_stream(runtime, LAYERS[layer], trigger)


def rebuild_layer(runtime: Runtime, layer: str) -> None:
    """Recompute one layer's tables from the layer before it (`--full-refresh`)."""
    rebuild = LAYERS[layer].rebuild
    if rebuild is None:
        raise PipelineError(f"the {layer} layer cannot be rebuilt; only its stream runs")
    ensure_tables(runtime, LAYERS[layer].tables)
    rebuild(runtime)


def choose_layers(names: Sequence[str]) -> list[str]:
    """The named layers in pipeline order; unknown names are an error."""
    unknown = [name for name in names if name not in LAYERS]
    if unknown:
        raise PipelineError(
            f"unknown layer(s) {', '.join(unknown)}: choose among {', '.join(LAYERS)}"
        )
    return [name for name in LAYERS if name in names]


ProgressReporter = Callable[[str, Mapping[str, Any]], None]


def run_layers(
    runtime: Runtime,
    layers: Sequence[str],
    trigger: StreamTrigger,
    *,
    on_layer_done: Callable[[str, float], None] | None = None,
    on_progress: ProgressReporter | None = None,
    on_stopping: Callable[[], None] | None = None,
    poll_seconds: float = 5.0,
    full_refresh: bool = False,
) -> None:
    """Run `layers` in order. availableNow: one after the other, each to the end. Continuous:
    all at once until Ctrl-C or SIGTERM (then `on_stopping` is called, the queries stop between
    batches and KeyboardInterrupt is raised), reporting each new batch's progress. With
    `full_refresh`, layers that can be rebuilt (`Layer.rebuild`) are recomputed from the layer
    before them instead of running their stream; the others run as usual. Every batch's progress is
    recorded in ops_streaming_progress."""
    chosen = choose_layers(layers)
    if full_refresh and trigger.continuous:
        raise PipelineError("--full-refresh runs once; it cannot be combined with continuous")
    ensure_tables(runtime, [OPS_STREAMING_PROGRESS])
    with recording_progress(runtime.spark, runtime.config) as progress_log:
        if not trigger.continuous:
            for layer in chosen:
                started = time.monotonic()
                if full_refresh and LAYERS[layer].rebuild is not None:
                    rebuild_layer(runtime, layer)
                else:
                    query = start_layer(runtime, layer, trigger)
                    query.awaitTermination()
                    progress_log.flush([query])
                if on_layer_done:
                    on_layer_done(layer, time.monotonic() - started)
            return
        stop = threading.Event()
        queries: dict[str, StreamingQuery] = {}
        with stop_on_signals(stop):
            try:
                for layer in chosen:
                    if not stop.is_set():
                        queries[layer] = start_layer(runtime, layer, trigger)
                watch_queries(
                    queries,
                    on_progress=on_progress,
                    poll_seconds=poll_seconds,
                    on_poll=lambda: progress_log.flush(list(queries.values())),
                    stop=stop,
                )
            finally:
                if stop.is_set() and on_stopping:
                    on_stopping()
                for query in queries.values():
                    stop_between_batches(query)
                progress_log.flush(list(queries.values()))
        if stop.is_set():
            raise KeyboardInterrupt  # stopped by Ctrl-C or SIGTERM, cleanly


def stop_between_batches(query: StreamingQuery, wait_seconds: float = 120.0) -> None:
    """Stop `query` once its current micro-batch (if any) has finished, so that no batch is cut
    in half (an interrupted batch is redone after a restart, but its cancelled jobs fill the
    log); after `wait_seconds` it is stopped regardless."""
    deadline = time.monotonic() + wait_seconds
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.1)
    if query.isActive:
        query.stop()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """While a continuous run lasts, Ctrl-C (SIGINT) and SIGTERM only set `stop`: the run then
    stops its queries between two polls. (Raising at once, as PySpark's own SIGINT handler
    does, can cut a call to the JVM in half and leave the queries unstoppable.) Outside the
    main thread, signals cannot be handled and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in handled}
    for number in handled:
        signal.signal(number, lambda _number, _frame: stop.set())
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def watch_queries(
    queries: Mapping[str, StreamingQuery],
    *,
    on_progress: ProgressReporter | None,
    poll_seconds: float,
    on_poll: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Report each query's new batches until one fails (raised), all stop, or `stop` is set."""
    last_batch: dict[str, int] = {}
    stop = stop or threading.Event()
    while not stop.is_set() and any(query.isActive for query in queries.values()):
        for layer, query in queries.items():
            error = query.exception()
            if error is not None:
                raise PipelineError(f"the {layer} stream failed: {error}")
            progress = query.lastProgress
            if progress and on_progress and progress.get("batchId") != last_batch.get(layer):
                last_batch[layer] = int(progress["batchId"])
                on_progress(layer, progress)
        if on_poll:
            on_poll()
        stop.wait(poll_seconds)


def progress_summary(progress: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a person watches in a batch's progress: rows, rows/s, duration, lag."""
    durations = progress.get("durationMs") or {}
    lag = None
    for source in progress.get("sources") or []:
        metrics = source.get("metrics") or {}
        if "maxOffsetsBehindLatest" in metrics:
            lag = f"{metrics['maxOffsetsBehindLatest']} offsets"
    return {
        "batch": progress.get("batchId"),
        "rows": progress.get("numInputRows"),
        "rows_per_second": round(float(progress.get("processedRowsPerSecond") or 0.0), 1),
        "batch_ms": durations.get("triggerExecution"),
        "lag": lag,
    }
