"""The Silver -> Gold stream (one MERGE per table per micro-batch, touching only the keys the
batch affects) and the full rebuild from Silver (`--full-refresh`).

What a micro-batch of new Silver events recomputes:
- spend: for each advertiser it touches (clicks, budget updates, refunds of its clicks, or late
  clicks whose refunds came first), every hour from the start of the earliest budget period
  touched onwards; the budget in effect before that comes from Gold's row before it;
- conversion facts: new conversions, cancelled ones, and conversions whose last click may have
  changed (a late click of the same user within the lookback before them);
- ad performance: the day x source x platform x campaign keys of the batch's clicks and
  impressions and of the conversion facts before and after their update.
Each recomputation reads Silver filtered by event time (Delta skips files by their min/max
event_time), so its cost follows what changed more than the history's length.

Replays: every write is a MERGE that replaces a recomputed scope whole, from Silver, so a batch
re-run after a crash repeats it harmlessly. A step that reads a Gold table's state from before
the batch (the performance keys a conversion counted under) writes before that table is written
(performance before conversion facts), and the advertiser pairs are saved last: a batch killed
between any two writes and replayed leaves every table as an uninterrupted run does.

Advertisers are keyed by id (advertisers.py); when a batch gives a name its id, or an id a new
label, the advertiser's rows from its first hour on are recomputed under the key and label.
Events Gold cannot process (a data error) are set aside in ops_dead_letters and left out
(deadletters.py); the batch completes.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from ad_marketing_pipeline.config import PipelineConfig, TableKey
from ad_marketing_pipeline.deadletters import DeadLetteringWriter, dead_lettered_ids, excluding
from ad_marketing_pipeline.gold.advertiser_pairs import read_directory, save_pairs
from ad_marketing_pipeline.gold.advertisers import advertiser_pairs, with_advertiser_keys
from ad_marketing_pipeline.gold.click_lookup import ClickLookup
from ad_marketing_pipeline.gold.facts_refresh import refresh_facts
from ad_marketing_pipeline.gold.planning import BatchSummary, of_type
from ad_marketing_pipeline.gold.spend_refresh import refresh_spend
from ad_marketing_pipeline.gold.tables import GOLD_TABLES
from ad_marketing_pipeline.io import MicroBatch
from ad_marketing_pipeline.runtime import Runtime
from ad_marketing_pipeline.silver.stream import read_silver_events
from ad_marketing_pipeline.streams import Layer
from ad_marketing_pipeline.tables import OPS_DEAD_LETTERS, SILVER_EVENTS

CHANGED_COLUMNS = (
    "event_id",
    "event_type",
    "event_time",
    "advertiser",
    "advertiser_id",
    "click_id",
    "conversion_id",
    "user_id",
    "source",
    "platform",
    "campaign_id",
)


def refresh_gold(
    silver: DataFrame,
    config: PipelineConfig,
    changed: DataFrame | None,
    batch: MicroBatch,
    *,
    clicks: ClickLookup | None = None,
    left_out: frozenset[str] = frozenset(),
) -> None:
    """Every Gold table up to date with Silver, for what `changed` touches (None: rebuild).
    `clicks`: the stream's lookup of refunded clicks (click_lookup.py); `left_out`: the events
    `silver` and `changed` leave out (dead-lettered)."""
    spark = silver.sparkSession
    names_table = config.table(TableKey.GOLD_ADVERTISERS)
    if changed is None:
        batch.overwrite_table(
            advertiser_pairs(silver), names_table, ["advertiser_id", "advertiser_name"]
        )
        keyed_silver = silver.transform(with_advertiser_keys(read_directory(spark, names_table)))
        everything = BatchSummary({})
        refresh_spend(keyed_silver, config, None, everything, moves={}, batch=batch)
        refresh_facts(keyed_silver, config, None, everything, moves={}, batch=batch)
        return
    before = read_directory(spark, names_table)
    summary = BatchSummary.of(changed)
    learned = summary.pairs - before.pairs
    after = before.with_pairs(learned)
    keyed = with_advertiser_keys(after)
    keyed_changed = changed.transform(keyed).localCheckpoint()
    moves = before.moves(after)
    clicks = ClickLookup() if clicks is None else clicks
    if moves:
        clicks.forget_all()  # its rows carry the keys that moved
    refresh_spend(
        silver.transform(keyed),
        config,
        keyed_changed,
        summary,
        moves=moves,
        batch=batch,
        clicks=clicks,
        left_out=left_out,
    )
    refresh_facts(silver.transform(keyed), config, keyed_changed, summary, moves=moves, batch=batch)
    # Last: a batch replayed after the pairs were saved learns nothing and moves nothing.
    save_pairs(spark, learned, names_table, batch)


def gold_writer(config: PipelineConfig) -> DeadLetteringWriter:
    """The Silver -> Gold micro-batch writer (foreachBatch: MERGEs cannot stream). Events Gold
    cannot process are set aside (ops_dead_letters) and left out of Silver from then on."""
    silver_table = config.table(TableKey.SILVER_EVENTS)
    clicks = ClickLookup()

    def start(batch: DataFrame) -> None:
        clicks.start_batch(of_type(batch, "ad_click"))

    def process(changed: DataFrame, left_out: frozenset[str], micro: MicroBatch) -> None:
        silver = changed.sparkSession.table(silver_table)
        clicks.start_attempt()
        try:
            refresh_gold(
                excluding(silver, left_out),
                config,
                excluding(changed, left_out),
                micro,
                clicks=clicks,
                left_out=left_out,
            )
        except BaseException:
            clicks.forget_all()  # its rows may carry keys of pairs this run did not save
            raise

    return DeadLetteringWriter(
        layer="gold",
        start=start,
        process=process,
        silver_table=silver_table,
        dead_letters=config.table(TableKey.OPS_DEAD_LETTERS),
        columns=CHANGED_COLUMNS,
    )


def rebuild_gold(runtime: Runtime) -> None:
    """`--full-refresh`: recompute every Gold table from the whole of Silver (less the events
    Gold set aside). The stream keeps its checkpoint; what it processes next is recomputed from
    Silver too, so both agree."""
    spark, config = runtime.spark, runtime.config
    silver = spark.table(config.table(TableKey.SILVER_EVENTS))
    left_out = dead_lettered_ids(spark, config.table(TableKey.OPS_DEAD_LETTERS), "gold")
    refresh_gold(
        excluding(silver, left_out),
        config,
        None,
        MicroBatch("gold", "full-refresh", 0, config.faults),
    )


GOLD = Layer(
    name="gold",
    tables=(SILVER_EVENTS, *GOLD_TABLES, OPS_DEAD_LETTERS),
    read=read_silver_events,
    writer=gold_writer,
    rebuild=rebuild_gold,
)
