"""The clicks refunds credit, found by click id in Silver, for Gold's spend.

A refund credits its click, which usually came shortly before it: a click is first looked for
from REFUNDED_CLICK_SEARCH before the earliest refund on (Delta skips older files by
event_time), and only the ids not found there are searched for in all of Silver. A refund whose
click never arrives (its click was malformed and quarantined, say) would send every later batch
of its budget period to that search of all of history, so `ClickLookup` remembers, across the
micro-batches of one stream, what each search of all of Silver found for an id (the clicks, or
none). Silver only grows by the rows Gold's stream reads next, so a remembered answer holds
until a batch brings a click with that id (`start_batch`); it is also dropped when keys move
(the rows carry advertiser keys) and never returned for a dead-lettered click. It lives in
memory: a restart searches once more, then remembers again; a run that fails forgets it all (its
rows may carry keys of advertiser pairs it did not save). Within one run of a batch, every id is
looked up once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from ad_marketing_pipeline.frames import local_frame, schema_of
from ad_marketing_pipeline.gold.planning import of_type

CLICK_IDS = schema_of(click_id=StringType())

# Refunds come after their clicks, usually within days: a click is first looked for this long
# before its refund (Delta skips older files by event_time), then, if not found, everywhere.
REFUNDED_CLICK_SEARCH = timedelta(days=31)
CLICK_COLUMNS = (
    "click_id",
    "event_id",
    "event_time",
    "advertiser_key",
    "advertiser",
    "advertiser_id",
    "amount",
)


@dataclass(frozen=True)
class FoundClicks:
    """Clicks a lookup found: the driver's rows, and the same as a small frame."""

    rows: list[Row]
    frame: DataFrame


@dataclass
class ClickLookup:
    """Clicks by click id (see the module's docstring). `remember` bounds the ids whose search
    of all of Silver is remembered (the oldest are forgotten first)."""

    remember: int = 100_000
    _searched: OrderedDict[str, tuple[Row, ...]] = field(default_factory=OrderedDict)
    _this_batch: dict[str, tuple[Row, ...]] = field(default_factory=dict)

    def start_batch(self, batch_clicks: DataFrame) -> None:
        """A new micro-batch: forget what this batch's clicks (`click_id` column) may change."""
        if not self._searched:
            return
        ids = batch_clicks.select("click_id").distinct().collect()
        for row in ids:
            self._searched.pop(row["click_id"], None)

    def start_attempt(self) -> None:
        """A new run of the batch's processing (the first, or a retry on part of the batch after
        a data error): forget the last one's lookups, whose rows carry its advertiser keys."""
        self._this_batch.clear()

    def forget_all(self) -> None:
        """Advertiser keys moved, or a run failed before saving the pairs it keyed rows with:
        the remembered rows may carry keys the next run does not give."""
        self._searched.clear()
        self._this_batch.clear()

    def remembered(self) -> int:
        return len(self._searched)

    def find(
        self,
        silver: DataFrame,
        click_ids: Iterable[str],
        not_before: datetime,
        left_out: frozenset[str] = frozenset(),
    ) -> FoundClicks:
        """The clicks (CLICK_COLUMNS of keyed Silver rows) with these ids, as a small frame:
        for each id, the clicks from `not_before` - REFUNDED_CLICK_SEARCH on, or, when there
        are none there, those anywhere in Silver. `left_out` events are never returned."""
        spark = silver.sparkSession
        clicks = of_type(silver, "ad_click").select(*CLICK_COLUMNS)
        wanted = set(click_ids)
        unknown = wanted - self._this_batch.keys() - self._searched.keys()
        if unknown:
            recent = clicks.filter(F.col("event_time") >= not_before - REFUNDED_CLICK_SEARCH)
            self._keep(self._this_batch, unknown, _lookup(recent, unknown))
        missing = {i for i in unknown if not self._this_batch[i]}
        if missing:
            self._keep(self._searched, missing, _lookup(clicks, missing))
            while len(self._searched) > self.remember:
                self._searched.popitem(last=False)
        rows = [
            row
            for click_id in sorted(wanted)
            for row in self._this_batch.get(click_id) or self._searched.get(click_id, ())
            if row["event_id"] not in left_out
        ]
        return FoundClicks(rows, local_frame(spark, rows, clicks.schema))

    @staticmethod
    def _keep(store: dict[str, tuple[Row, ...]], ids: set[str], found: list[Row]) -> None:
        by_id: dict[str, list[Row]] = {click_id: [] for click_id in ids}
        for row in found:
            by_id[row["click_id"]].append(row)
        for click_id in sorted(by_id):
            store[click_id] = tuple(by_id[click_id])


def _lookup(clicks: DataFrame, ids: set[str]) -> list[Row]:
    wanted = local_frame(clicks.sparkSession, [(i,) for i in sorted(ids)], CLICK_IDS)
    return clicks.join(F.broadcast(wanted), "click_id", "left_semi").collect()
