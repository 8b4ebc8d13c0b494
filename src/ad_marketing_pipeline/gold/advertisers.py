"""Who an event's advertiser is: the id is the key, names are labels.

Events name their advertiser by `advertiser_id`, by `advertiser` (a name), or both. Every
(id, name) pair events give is kept (gold_advertisers, and gold_serving_advertisers for the
serving stream), and decides:

- the **key** of an event (`advertiser_key`, what spend is summed and budgets apply by): its
  `advertiser_id` when it carries one; else the id its name was given with (the smallest, if
  several); else its name, standing in until an event gives the name with an id;
- the **label** (`advertiser`): the smallest name given with the key's id, else the id; a
  stand-in name is its own label;
- `advertiser_id`: the key's id (null for a stand-in name).

So "Acme" and "acme" both sent with id X-1 are one advertiser, X-1, labelled "Acme"; and two
advertisers that share a name keep apart when their events carry ids. When a batch brings a new
pair, rows kept under a stand-in name move to its id, and rows of an id whose label changed are
relabelled (`moves`). Gold applies the rule with Spark columns (`with_advertiser_keys`), the
serving stream with `AdvertiserDirectory.identify`; one unit test checks both agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from ad_marketing_pipeline.contract import blank_column, is_blank
from ad_marketing_pipeline.frames import local_frame, schema_of

Transform = Callable[[DataFrame], DataFrame]
Pair = tuple[str, str]  # (advertiser_id, advertiser_name)

PAIRS_SCHEMA = schema_of(advertiser_id=StringType(), advertiser_name=StringType())
_LABELS_SCHEMA = schema_of(_resolved_id=StringType(), _label=StringType())
_LINKS_SCHEMA = schema_of(_given_name=StringType(), _linked_id=StringType())


def given(value: str | None) -> str | None:
    """A name or id as given, or None when absent or blank (`contract.is_blank`)."""
    return None if is_blank(value) else value


def given_column(name: str) -> Column:
    """A name or id column as given, null when blank (the Spark form of `given`)."""
    return F.when(~blank_column(F.col(name)), F.col(name))


@dataclass(frozen=True)
class Identity:
    """An event's advertiser: its key, label and id (see the module docstring)."""

    key: str
    advertiser: str
    advertiser_id: str | None


@dataclass(frozen=True)
class AdvertiserDirectory:
    """The (advertiser_id, name) pairs seen so far, and what they decide."""

    pairs: frozenset[Pair] = field(default_factory=frozenset)

    @cached_property
    def labels(self) -> dict[str, str]:
        """Advertiser id -> its label: the smallest name given with it."""
        labels: dict[str, str] = {}
        for advertiser_id, name in self.pairs:
            if advertiser_id not in labels or name < labels[advertiser_id]:
                labels[advertiser_id] = name
        return labels

    @cached_property
    def links(self) -> dict[str, str]:
        """Name -> the id events without an id count under: the smallest given with it."""
        links: dict[str, str] = {}
        for advertiser_id, name in self.pairs:
            if name not in links or advertiser_id < links[name]:
                links[name] = advertiser_id
        return links

    def with_pairs(self, pairs: Iterable[Pair]) -> AdvertiserDirectory:
        return AdvertiserDirectory(self.pairs | frozenset(pairs))

    def identify(self, advertiser_id: str | None, advertiser: str | None) -> Identity | None:
        """The advertiser of an event naming it so (None when the event names none)."""
        given_id, given_name = given(advertiser_id), given(advertiser)
        resolved = given_id if given_id is not None else self.links.get(given_name or "")
        if resolved is not None:
            return Identity(resolved, self.labels.get(resolved, resolved), resolved)
        if given_name is not None:
            return Identity(given_name, given_name, None)
        return None

    def moves(self, after: AdvertiserDirectory) -> dict[str, str]:
        """Keys whose rows change from this directory to `after` -> the key they go to: a name
        that got (or changed) its id moves the events counted under it (from the stand-in name,
        or the former id); an id whose label changed keeps its key (relabel)."""
        moved: dict[str, str] = {}
        for name, advertiser_id in after.links.items():
            before = self.links.get(name)
            if before != advertiser_id:
                moved[before if before is not None else name] = advertiser_id
        for advertiser_id, label in after.labels.items():
            if self.labels.get(advertiser_id) != label:
                moved.setdefault(advertiser_id, advertiser_id)
        return moved

    def frames(self, spark: SparkSession) -> tuple[DataFrame, DataFrame]:
        """(labels, links) as small frames for `with_advertiser_keys`."""
        labels = local_frame(spark, sorted(self.labels.items()), _LABELS_SCHEMA)
        links = local_frame(spark, sorted(self.links.items()), _LINKS_SCHEMA)
        return labels, links


def pair_column() -> Column:
    """An event's (advertiser_id, advertiser_name) pair as a struct; null unless it gives both."""
    advertiser_id, name = given_column("advertiser_id"), given_column("advertiser")
    return F.when(
        advertiser_id.isNotNull() & name.isNotNull(),
        F.struct(advertiser_id.alias("advertiser_id"), name.alias("advertiser_name")),
    )


def advertiser_pairs(events: DataFrame) -> DataFrame:
    """The distinct (advertiser_id, advertiser_name) pairs of events that give both."""
    pairs = events.select(pair_column().alias("pair")).filter(F.col("pair").isNotNull())
    return pairs.select("pair.*").distinct()


def with_advertiser_keys(directory: AdvertiserDirectory) -> Transform:
    """Events with `advertiser_key`, and `advertiser` / `advertiser_id` resolved to the
    advertiser's label and id, by `directory` (the rule of `AdvertiserDirectory.identify`)."""

    def apply(events: DataFrame) -> DataFrame:
        labels, links = directory.frames(events.sparkSession)
        given_name = given_column("advertiser")
        named = events.withColumn("_given_name", given_name).join(
            F.broadcast(links), "_given_name", "left"
        )
        resolved = F.coalesce(given_column("advertiser_id"), F.col("_linked_id"))
        keyed = named.withColumn("_resolved_id", resolved).join(
            F.broadcast(labels), "_resolved_id", "left"
        )
        return keyed.withColumns(
            {
                "advertiser_key": F.coalesce(F.col("_resolved_id"), F.col("_given_name")),
                "advertiser": F.coalesce(
                    F.col("_label"), F.col("_resolved_id"), F.col("_given_name")
                ),
                "advertiser_id": F.col("_resolved_id"),
            }
        ).drop("_given_name", "_linked_id", "_resolved_id", "_label")

    return apply
