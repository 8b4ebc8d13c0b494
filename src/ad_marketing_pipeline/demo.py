"""The demo: generated landing files through every layer into local Delta tables, and a
summary a person can read at a glance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ad_marketing_pipeline.entrypoints import LAYERS, Runtime, run_layers
from ad_marketing_pipeline.generator import (
    GenerationSummary,
    GeneratorSettings,
    write_landing_files,
)
from ad_marketing_pipeline.io import StreamTrigger


@dataclass(frozen=True)
class DemoSummary:
    """What the demo shows at the end."""

    generated: GenerationSummary | None
    layer_seconds: dict[str, float]
    rows_per_table: dict[str, int]


def landing_has_events(landing: Path) -> bool:
    return any(landing.glob("events-*.jsonl"))


def run_demo(
    runtime: Runtime,
    settings: GeneratorSettings,
    *,
    on_generated: Callable[[int], None] | None = None,
    on_layer_done: Callable[[str, float], None] | None = None,
) -> DemoSummary:
    """Generate landing files (unless the landing folder already has some), run every layer
    once, and count what each table holds."""
    landing = Path(runtime.config.landing_path)
    generated = None
    if not landing_has_events(landing):
        generated = write_landing_files(settings, landing, on_progress=on_generated)
    layer_seconds: dict[str, float] = {}

    def layer_done(layer: str, seconds: float) -> None:
        layer_seconds[layer] = seconds
        if on_layer_done:
            on_layer_done(layer, seconds)

    run_layers(runtime, list(LAYERS), StreamTrigger(), on_layer_done=layer_done)
    config = runtime.config
    rows = {
        getattr(config.tables, key): runtime.spark.table(config.table(key)).count()
        for key in ("bronze_events", "silver_events", "silver_quarantine")
    }
    return DemoSummary(generated=generated, layer_seconds=layer_seconds, rows_per_table=rows)
