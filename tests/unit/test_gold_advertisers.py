"""Who an event's advertiser is (the id is the key, names are labels): the plain-Python rule the
serving stream applies and the Spark columns Gold applies agree, case by case."""

from __future__ import annotations

from pyspark.sql import SparkSession

from ad_marketing_pipeline.gold.advertisers import (
    AdvertiserDirectory,
    Identity,
    advertiser_pairs,
    with_advertiser_keys,
)
from helpers import assert_frames_equal

# (advertiser_id, advertiser) as events give them.
EVENTS: list[tuple[str | None, str | None]] = [
    ("X-1", "Acme"),
    ("X-1", "acme"),  # the same advertiser spelled another way
    (None, "acme"),  # a name given with X-1 before: counts for X-1
    ("A-1", "Shared"),
    ("A-2", "Shared"),  # two advertisers with one name stay two
    (None, "Shared"),  # a name given with two ids counts for the smallest
    ("Y-2", None),  # an id never named: its own label
    (None, "Zed"),  # a name never given with an id stands in for one
    ("  ", "Zed"),  # a blank id is no id
    (None, None),
]
DIRECTORY = AdvertiserDirectory().with_pairs(
    [("X-1", "Acme"), ("X-1", "acme"), ("A-1", "Shared"), ("A-2", "Shared")]
)


def test_the_id_is_the_key_and_the_smallest_name_its_label() -> None:
    identify = DIRECTORY.identify
    assert identify("X-1", "acme") == Identity("X-1", "Acme", "X-1")
    assert identify(None, "acme") == Identity("X-1", "Acme", "X-1")
    assert identify("A-2", "Shared") == Identity("A-2", "Shared", "A-2")
    assert identify(None, "Shared") == Identity("A-1", "Shared", "A-1")
    assert identify("Y-2", None) == Identity("Y-2", "Y-2", "Y-2")
    assert identify(" ", "Zed") == Identity("Zed", "Zed", None)
    assert identify(None, " ") is None


def test_spark_and_python_resolve_every_event_alike(spark: SparkSession) -> None:
    events = spark.createDataFrame(EVENTS, "advertiser_id string, advertiser string")
    pairs = {(row[0], row[1]) for row in advertiser_pairs(events).collect()}
    directory = AdvertiserDirectory().with_pairs(pairs)
    assert directory == DIRECTORY

    actual = events.transform(with_advertiser_keys(directory)).select(
        "advertiser_key", "advertiser", "advertiser_id"
    )
    identities = [directory.identify(given_id, name) for given_id, name in EVENTS]
    expected = spark.createDataFrame(
        [
            (None, None, None) if who is None else (who.key, who.advertiser, who.advertiser_id)
            for who in identities
        ],
        "advertiser_key string, advertiser string, advertiser_id string",
    )
    assert_frames_equal(actual, expected)


def test_a_new_pair_moves_a_stand_in_name_to_its_id_and_relabels_the_id() -> None:
    before = AdvertiserDirectory().with_pairs([("X-1", "acme")])
    # "Zed" gets its id; X-1 gets a smaller name.
    after = before.with_pairs([("Z-9", "Zed"), ("X-1", "Acme")])
    assert before.moves(after) == {"Zed": "Z-9", "Z-9": "Z-9", "X-1": "X-1", "Acme": "X-1"}
    assert after.moves(after) == {}


def test_a_name_given_with_a_smaller_id_moves_from_the_former_id() -> None:
    before = AdvertiserDirectory().with_pairs([("B-2", "Shared")])
    after = before.with_pairs([("A-1", "Shared")])
    assert before.moves(after) == {"B-2": "A-1", "A-1": "A-1"}
