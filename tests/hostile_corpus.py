"""A corpus of hostile and odd-but-plausible input for the whole chain, one named kind per trick.

Each kind is a few landing-file lines and what must become of each: a valid event (Silver holds
it), a duplicate of an event received before it, or a record quarantined with these reason
codes. The lines go into four landing files received in order (`FILE_NAMES`; the third is
empty), so the pipeline meets them in several micro-batches; a line says which file it is in and
which line break ends it. Ordinary clicks and budgets of a few advertisers (spread over
2024-03-04 and 2024-03-05, and over the last hour before `anchor`) give Gold spend to check.

The expectations are the rules of silver.py and the contract as `reference_model` implements
them; where the pipeline differs, the kind's `what` says so, and its advertiser (named
"Probe ...") keeps the difference away from the other advertisers' Gold rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reference_model import (
    INVALID_CURRENCY,
    INVALID_UNICODE,
    INVALID_VALUE,
    MALFORMED_JSON,
    MISSING_REQUIRED_FIELD,
    NEGATIVE_VALUE,
    OVERSIZED_PAYLOAD,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_TOO_OLD,
    UNKNOWN_EVENT_TYPE,
    UNPARSABLE_TIMESTAMP,
    VALUE_OUT_OF_RANGE,
    WRONG_TYPE,
)

VALID = "silver"
DUPLICATE = "duplicate"
QUARANTINE = "quarantine"
FILE_NAMES = {
    1: "01-first.jsonl",
    2: "02-second.jsonl",
    3: "03-empty.jsonl",
    4: "04-last.jsonl",
}
MAX_PAYLOAD_BYTES = 102_400  # quality.max_payload_bytes by default
DAY = "2024-03-04"
NEXT_DAY = "2024-03-05"


@dataclass(frozen=True)
class Expect:
    """What must become of a line: VALID, DUPLICATE or QUARANTINE with these reason codes."""

    fate: str
    reasons: frozenset[str] = frozenset()


valid = Expect(VALID)
duplicate = Expect(DUPLICATE)


def quarantined(*reasons: str) -> Expect:
    return Expect(QUARANTINE, frozenset(reasons))


@dataclass(frozen=True)
class Line:
    """One landing-file line (without its line break) and what must become of it."""

    text: str | bytes  # bytes for lines that are not UTF-8
    expect: Expect
    file: int = 1
    end: str = "\n"  # the line break after it: "\n", "\r\n", "\r" or "" (the file's last)
    first_in_file: bool = False

    def __post_init__(self) -> None:
        text = self.text if isinstance(self.text, bytes) else self.text.encode("utf-8")
        assert b"\r" not in text and b"\n" not in text, "a line holds no line break"

    @property
    def content(self) -> bytes:
        text = self.text if isinstance(self.text, bytes) else self.text.encode("utf-8")
        return text + self.end.encode("ascii")


@dataclass(frozen=True)
class Kind:
    name: str
    what: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class PlacedLine:
    """A corpus line where the landing files hold it."""

    file_name: str
    offset: int
    kind: str
    line: Line


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text written as is (numbers exactly as typed, NaN, nested text)."""

    text: str


def obj(*pairs: tuple[str, Any], **fields: Any) -> str:
    """A JSON object's text with its fields in order (`pairs` first, which may repeat a key);
    a `Raw` value is written as is, `...` leaves the field out; non-ASCII stays as it is."""
    items = [*pairs, *fields.items()]
    body = ", ".join(
        f"{json.dumps(key, ensure_ascii=False)}: "
        + (value.text if isinstance(value, Raw) else json.dumps(value, ensure_ascii=False))
        for key, value in items
        if value is not ...
    )
    return "{" + body + "}"


def at(clock: str, day: str = DAY) -> str:
    """`day` at `clock` (HH:MM or HH:MM:SS) as UTC ISO-8601."""
    return f"{day}T{clock if clock.count(':') == 2 else clock + ':00'}Z"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Clock:
    """Times around `now` (about when the files are written): `ago(minutes)` is that many
    minutes into the hour before it, the hour squeezed into today (UTC) so that recent events
    share now's budget day; `ahead` is after it."""

    now: datetime

    def ago(self, minutes: int) -> str:
        midnight = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        span = min(timedelta(hours=1), self.now - midnight)
        return iso(self.now - span * minutes / 60)

    def ahead(self, delta: timedelta) -> str:
        return iso(self.now + delta)


ACME = {"advertiser": "Acme", "advertiser_id": "ADV-1"}


def advertiser_of(fields: dict[str, Any]) -> dict[str, Any]:
    """Acme (ADV-1) unless the fields name the advertiser themselves (`...` for none)."""
    return {} if "advertiser" in fields or "advertiser_id" in fields else ACME


def click(click_id: Any, when: Any, amount: Any, **fields: Any) -> str:
    return obj(
        event_type="ad_click",
        click_id=click_id,
        **{**advertiser_of(fields), "ad_id": "ad-1", **fields},
        amount=amount,
        timestamp=when,
    )


def budget(when: Any, value: Any, **fields: Any) -> str:
    return obj(
        event_type="budget_update",
        **{**advertiser_of(fields), **fields},
        budget_value=value,
        timestamp=when,
    )


def refund(click_id: Any, when: Any, **fields: Any) -> str:
    return obj(event_type="click_refund", click_id=click_id, **fields, timestamp=when)


def conversion(conversion_id: Any, when: Any, revenue: Any, **fields: Any) -> str:
    return obj(
        event_type="conversion",
        conversion_id=conversion_id,
        **{"user_id": "u-1", **fields},
        revenue=revenue,
        timestamp=when,
    )


def page_view(when: Any, **fields: Any) -> str:
    return obj(event_type="page_view", **{"user_id": "u-1", **fields}, timestamp=when)


def lines(expect: Expect, *texts: str | bytes, file: int = 1, end: str = "\n") -> list[Line]:
    return [Line(text, expect, file, end) for text in texts]


def sized(size: int, filler: str = "x", **fields: Any) -> str:
    """A valid click whose payload is `size` bytes of UTF-8, padded with `filler`."""
    empty = click("pad", at("10:30"), 0.01, advertiser="Padded", pad="")
    room = size - len(empty.encode("utf-8"))
    count, rest = divmod(room, len(filler.encode("utf-8")))
    assert count >= 0 and rest == 0, "the filler cannot make the payload exactly that size"
    return click("pad", at("10:30"), 0.01, advertiser="Padded", pad=filler * count)


# ---------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------


def kind(name: str, what: str, *groups: list[Line]) -> Kind:
    return Kind(name, what, tuple(line for group in groups for line in group))


def _ordinary_input(recent: Clock) -> list[Kind]:
    """Ordinary input: what Gold has to add up."""
    return [
        kind(
            "bom_at_file_start",
            "the first file starts with a UTF-8 byte-order mark (some Windows tools write one)",
            [Line("\ufeff" + budget(at("00:00"), 40), valid, first_in_file=True)],
        ),
        kind(
            "ordinary_clicks_and_budgets",
            "Acme (ADV-1) clicks all day on the 4th and again on the 5th (a new budget period)",
            lines(
                valid,
                click("a-1", at("08:05"), 12.5),
                click("a-2", at("08:40"), 7.25, currency="USD", budget_value=45),
                click("a-3", at("09:10"), "10.000000", campaign_id="cmp-1", user_id="u-1"),
                click("a-4", at("11:59:59.999999"), 6),
                budget(at("06:00", NEXT_DAY), 30, budget_period="day"),
                click("a-5", at("07:30", NEXT_DAY), 4.75),
            ),
            lines(valid, click("a-6", at("13:20"), 9.5), click("a-7", at("17:45"), 3), file=2),
            lines(valid, click("a-8", at("09:15", NEXT_DAY), 28), file=4),
        ),
        kind(
            "recent_activity",
            "Nowish in the hour before the files are written: a budget of 1.00 spent past it "
            "(can_serve false now), first by name only, its id NOW-1 given in the last file",
            lines(
                valid,
                budget(recent.ago(50), 1, advertiser="Nowish"),
                click("n-1", recent.ago(40), 0.6, advertiser="Nowish"),
                file=2,
            ),
            lines(
                valid,
                click("n-2", recent.ago(30), 0.6, advertiser_id="NOW-1"),
                conversion("cv-now", recent.ago(20), 5, advertiser="Nowish"),
                budget(recent.ago(55), 2, advertiser="Nowish", advertiser_id="NOW-1"),
                file=4,
            ),
        ),
        kind(
            "timestamp_within_clock_skew",
            "a click stamped 14 minutes after the files are written: within the 15 minutes of "
            "allowed skew; the serving stream's 'now' must not move past when it received it",
            lines(
                valid,
                click("n-3", recent.ahead(timedelta(minutes=14)), 0.1, advertiser_id="NOW-1"),
                file=4,
            ),
        ),
        kind(
            "other_event_types",
            "impressions, conversions, a cancellation and page views (Silver keeps them; they move "
            "'now' but not spend)",
            lines(
                valid,
                obj(
                    event_type="impression",
                    advertiser="Acme",
                    ad_id="ad-1",
                    amount=0.002,
                    timestamp=at("08:00"),
                ),
                obj(
                    event_type="impression",
                    advertiser_id="ADV-1",
                    ad_id="ad-1",
                    timestamp=at("08:01"),
                ),
                conversion("cv-1", at("12:00"), "19.99", currency="EUR", advertiser_id="ADV-1"),
                obj(
                    event_type="conversion_cancellation",
                    conversion_id="cv-1",
                    timestamp=at("13:00"),
                ),
                page_view(at("07:59"), source="google", medium="cpc", session_id="s-1"),
            ),
        ),
        kind(
            "no_final_line_break",
            "the last file ends without a line break after its last line",
            [Line(page_view(at("23:00", NEXT_DAY), user_id="u-last"), valid, file=4, end="")],
        ),
    ]


def _line_breaks_and_files() -> list[Kind]:
    """Line breaks and files."""
    return [
        kind(
            "crlf_line_breaks",
            "lines ending in \\r\\n (a file edited on Windows)",
            lines(
                valid,
                click("crlf-1", at("10:05"), 1.5),
                budget(at("10:06"), 55, advertiser="Umbrella", advertiser_id="UMB-1"),
                file=2,
                end="\r\n",
            ),
        ),
        kind(
            "lone_cr_line_breaks",
            "lines ending in a bare \\r (classic Mac OS)",
            lines(valid, click("cr-1", at("10:07"), 1.25), file=2, end="\r"),
        ),
        kind(
            "raw_cr_inside_a_string",
            "a raw carriage return inside a string value: the line breaks in two, neither JSON",
            [
                Line(
                    '{"event_type": "ad_click", "click_id": "split',
                    quarantined(MALFORMED_JSON),
                    2,
                    "\r",
                ),
                Line(
                    '-1", "advertiser": "Acme", "ad_id": "ad-1", "amount": 1, '
                    f'"timestamp": "{at("10:08")}"}}',
                    quarantined(MALFORMED_JSON),
                    2,
                ),
            ],
        ),
        kind(
            "blank_lines",
            "empty and whitespace-only lines",
            lines(quarantined(MALFORMED_JSON), "", "   ", "\t", file=1),
            lines(quarantined(MALFORMED_JSON), "", file=4),
        ),
        kind("empty_file", "the third landing file has no bytes at all: no record", []),
        kind(
            "unicode_line_separators_in_strings",
            "raw U+2028, U+2029 and U+0085 inside string values are no line breaks (str.splitlines "
            "would split there)",
            lines(
                valid,
                click("sep-1", at("10:10"), 1, advertiser="Line\u2028Sep", advertiser_id="ULS-1"),
                click(
                    "sep-2", at("10:11"), 1, advertiser_id="ULS-1", campaign_name="a\u2029b\u0085c"
                ),
            ),
        ),
        kind(
            "bom_on_a_later_line",
            "a byte-order mark at the start of a line in the middle of a file (files concatenated)",
            lines(valid, "\ufeff" + click("bom-2", at("10:12"), 1.75), file=2),
        ),
    ]


def _not_json_objects() -> list[Kind]:
    """Not JSON objects."""
    return [
        kind(
            "not_json",
            "text, XML, CSV, lone braces",
            lines(
                quarantined(MALFORMED_JSON),
                "hello",
                "<event type='ad_click'/>",
                "ad_click,c-9,Acme,0.5",
                "{",
                "}",
            ),
        ),
        kind(
            "truncated_json",
            "a line cut short by a crashed producer",
            lines(quarantined(MALFORMED_JSON), click("t-1", at("10:00"), 1)[:57]),
        ),
        kind(
            "json_array",
            "an array of events, and an empty array",
            lines(quarantined(MALFORMED_JSON), f"[{click('arr-1', at('10:00'), 1)}]", "[]"),
        ),
        kind(
            "json_scalars",
            "JSON that is no object: null, a number, a string, a boolean",
            lines(quarantined(MALFORMED_JSON), "null", "42", '"ad_click"', "true"),
        ),
        kind(
            "raw_control_characters",
            "unescaped control characters (tab, NUL, form feed, escape) inside strings, and a "
            "NUL line",
            lines(
                quarantined(MALFORMED_JSON),
                *(
                    click("PLACE", at("10:00"), 1).replace("PLACE", f"ctl{char}x")
                    for char in ("\t", "\x00", "\x0c", "\x1b")
                ),
                "\x00",
            ),
        ),
        kind(
            "absurdly_deep_nesting",
            "metadata nested 5000 levels deep (a parser-stack attack)",
            lines(
                quarantined(MALFORMED_JSON),
                click("deep-x", at("10:00"), 1, metadata=Raw('{"a":' * 5000 + "1" + "}" * 5000)),
            ),
        ),
        kind(
            "two_objects_on_one_line",
            "two events glued together, and an event followed by garbage: not one JSON object "
            "(Spark's JSON reader alone would take the first object and ignore the rest)",
            lines(
                quarantined(MALFORMED_JSON),
                click("glue-1", at("10:20"), 1, advertiser="Probe Concat")
                + click("glue-2", at("10:21"), 2, advertiser="Probe Concat"),
                click("glue-3", at("10:22"), 3, advertiser="Probe Concat") + " ok",
            ),
        ),
        kind(
            "python_dict_repr",
            "a producer writing str(dict): single quotes are not JSON (Spark's JSON reader "
            "allows them unless told not to)",
            lines(
                quarantined(MALFORMED_JSON),
                str(
                    {
                        "event_type": "ad_click",
                        "click_id": "repr-1",
                        "advertiser": "Probe Quotes",
                        "ad_id": "ad-1",
                        "amount": 0.5,
                        "timestamp": at("10:25"),
                    }
                ),
            ),
        ),
        kind(
            "tab_before_the_object",
            "JSON whitespace (a tab) before the object is still one JSON object",
            lines(valid, "\t" + click("tab-1", at("10:26"), 1, advertiser="Probe Tab")),
        ),
    ]


def _event_types() -> list[Kind]:
    """Event types."""
    return [
        kind(
            "empty_object",
            "{} and an object of nulls: no event type",
            lines(
                quarantined(UNKNOWN_EVENT_TYPE),
                "{}",
                obj(event_type=None, click_id=None, amount=None, timestamp=None),
            ),
        ),
        kind(
            "unknown_event_types",
            "near misses of a type: other names, case, spaces, a zero-width space, a number, a "
            "list",
            lines(
                quarantined(UNKNOWN_EVENT_TYPE),
                *(
                    click("ut-1", at("10:00"), 1).replace('"ad_click"', spelled, 1)
                    for spelled in (
                        '"ad_view"',
                        '"AD_CLICK"',
                        '" ad_click"',
                        '"ad\\u200bclick"',
                        "7",
                        '["ad_click"]',
                    )
                ),
                obj(
                    click_id="ut-2",
                    advertiser="Acme",
                    ad_id="ad-1",
                    amount=1,
                    timestamp=at("10:00"),
                ),
            ),
        ),
        kind(
            "unknown_type_stamped_in_the_future",
            "an unknown type far in the future fails both rules",
            lines(
                quarantined(UNKNOWN_EVENT_TYPE, TIMESTAMP_IN_FUTURE),
                obj(event_type="video_play", timestamp="2100-01-01T00:00:00Z"),
            ),
        ),
    ]


def _required_fields() -> list[Kind]:
    """Required fields."""
    return [
        kind(
            "missing_required_fields",
            "a click without its id, ad, amount or time; a refund without its click; a conversion "
            "without its user",
            lines(
                quarantined(MISSING_REQUIRED_FIELD),
                click(..., at("10:00"), 1),
                click("m-2", at("10:00"), 1, ad_id=...),
                click("m-3", at("10:00"), ...),
                click("m-4", ..., 1),
                refund(..., at("10:00")),
                conversion("m-cv", at("10:00"), 5, user_id=...),
            ),
        ),
        kind(
            "null_required_fields",
            "required fields given as null",
            lines(
                quarantined(MISSING_REQUIRED_FIELD),
                click(None, at("10:00"), 1),
                click("nl-2", at("10:00"), None),
                click("nl-3", None, 1),
                budget(at("10:00"), None),
            ),
        ),
        kind(
            "blank_required_fields",
            "required text blank or whitespace-only; a blank amount or time is also of the wrong "
            "type / unparsable",
            lines(
                quarantined(MISSING_REQUIRED_FIELD),
                click("", at("10:00"), 1),
                click("   ", at("10:00"), 1),
                click("bl-3", at("10:00"), 1, ad_id=" "),
            ),
            lines(quarantined(MISSING_REQUIRED_FIELD, WRONG_TYPE), click("bl-4", at("10:00"), "")),
            lines(quarantined(MISSING_REQUIRED_FIELD, UNPARSABLE_TIMESTAMP), click("bl-5", "", 1)),
        ),
        kind(
            "no_advertiser_at_all",
            "neither advertiser nor advertiser_id, both null, both blank",
            lines(
                quarantined(MISSING_REQUIRED_FIELD),
                click("na-1", at("10:00"), 1, advertiser=...),
                click("na-2", at("10:00"), 1, advertiser=None, advertiser_id=None),
                budget(at("10:00"), 5, advertiser="", advertiser_id="  "),
            ),
        ),
        kind(
            "whitespace_only_advertiser_name",
            "an advertiser name that is just a tab names no advertiser: blank is empty or only "
            "ASCII whitespace, in Silver and Gold alike",
            lines(
                quarantined(MISSING_REQUIRED_FIELD),
                click("ws-1", at("10:27"), 1, advertiser="\t"),
            ),
        ),
        kind(
            "blank_advertiser_id_with_a_name",
            "a blank id beside a name: the name decides (Acme's id)",
            lines(valid, click("bid-1", at("10:28"), 1, advertiser="Acme", advertiser_id="  ")),
        ),
        kind(
            "case_variant_keys",
            "Click_Id and AMOUNT are not the contract's fields",
            lines(
                quarantined(MISSING_REQUIRED_FIELD),
                click(..., at("10:00"), 1, Click_Id="cv-k"),
                click("ck-2", at("10:00"), ..., AMOUNT=1),
            ),
        ),
        kind(
            "escaped_key_names",
            "a key spelled with a \\u escape is the same key",
            lines(valid, click("esc-1", at("10:29"), 1).replace('"click_id"', '"click\\u005fid"')),
        ),
    ]


def _types_of_values() -> list[Kind]:
    """Types of values."""
    not_money: tuple[object, ...] = ("cheap", True, [], {}, "1,5", "$1", "0x10", "sNaN")
    return [
        kind(
            "non_string_ids_and_names",
            "numbers, booleans, objects and lists where the contract wants text (ids, names, "
            "event_id, currency): a text field holds a JSON string",
            lines(
                quarantined(WRONG_TYPE),
                click(4242, at("10:30"), 1, advertiser="Probe Types"),
                click(True, at("10:31"), 1, advertiser="Probe Types"),
                click("nt-3", at("10:32"), 1, advertiser={"name": "Probe Types"}),
                click("nt-4", at("10:33"), 1, advertiser="Probe Types", ad_id=[1]),
                page_view(at("10:34"), event_id=7),
                conversion("nt-cv", at("10:35"), 5, user_id=12345),
            ),
            lines(
                quarantined(WRONG_TYPE, INVALID_CURRENCY),
                click("nt-7", at("10:36"), 1, advertiser="Probe Types", currency=840),
            ),
        ),
        kind(
            "metadata_not_an_object",
            "metadata given as a list, a string or a number",
            lines(
                quarantined(WRONG_TYPE),
                click("md-1", at("10:00"), 1, metadata=[1, 2]),
                click("md-2", at("10:00"), 1, metadata="plain text"),
                click("md-3", at("10:00"), 1, metadata=5),
            ),
        ),
        kind(
            "metadata_as_json_text",
            "metadata given as a string holding a JSON object is a string, not an object",
            lines(
                quarantined(WRONG_TYPE),
                click(
                    "mj-1",
                    at("10:37"),
                    1,
                    advertiser="Probe Metadata",
                    metadata='{"campaign": "x"}',
                ),
            ),
        ),
        kind(
            "nested_objects_and_extra_fields",
            "nested metadata with nulls and lists, unknown extra fields of every JSON type",
            lines(
                valid,
                click(
                    "nx-1",
                    at("10:38"),
                    1,
                    metadata={"a": {"b": [1, {"c": None}]}, "n": None},
                    experiment={"arm": "B"},
                    score=0.7,
                    tags=[],
                    nothing=None,
                    event_time="not the contract's field",
                ),
            ),
        ),
        kind(
            "deep_but_sane_nesting",
            "metadata nested 200 levels deep: unusual, still JSON both parsers read",
            lines(
                valid,
                click("deep-ok", at("10:39"), 1, metadata=Raw('{"a":' * 200 + "1" + "}" * 200)),
            ),
        ),
        kind(
            "duplicate_keys_in_one_object",
            "a key given twice: the last value counts (for JSON parsers that keep one)",
            lines(
                quarantined(NEGATIVE_VALUE),
                obj(
                    ("event_type", "ad_click"),
                    ("click_id", "dk-1"),
                    ("advertiser", "Acme"),
                    ("ad_id", "ad-1"),
                    ("amount", 0.5),
                    ("amount", -1),
                    ("timestamp", at("10:00")),
                ),
            ),
            lines(
                valid,
                obj(
                    ("event_type", "ad_view"),
                    ("event_type", "ad_click"),
                    ("click_id", "dk-2"),
                    ("click_id", "dk-3"),
                    ("advertiser", "Acme"),
                    ("ad_id", "ad-1"),
                    ("amount", -1),
                    ("amount", 0.5),
                    ("timestamp", at("10:40")),
                ),
            ),
        ),
        kind(
            "wrong_types_in_number_fields",
            "text, booleans, lists, objects and formatted numbers where money goes",
            lines(
                quarantined(WRONG_TYPE),
                *(click("wt-1", at("10:00"), amount) for amount in not_money),
                conversion("wt-cv", at("10:00"), "lots"),
                budget(at("10:00"), "∞"),
            ),
        ),
        kind(
            "non_finite_numbers",
            "NaN and infinities, bare (Python's and Spark's extension of JSON) and as strings",
            lines(
                quarantined(WRONG_TYPE),
                *(
                    click("nf-1", at("10:00"), amount)
                    for amount in (
                        Raw("NaN"),
                        Raw("Infinity"),
                        Raw("-Infinity"),
                        "NaN",
                        "-Infinity",
                    )
                ),
            ),
        ),
        kind(
            "huge_numbers",
            "1e308, 1e400, 10^30 and -1e308 do not fit DECIMAL(18, 6)",
            lines(
                quarantined(WRONG_TYPE),
                *(
                    click("hn-1", at("10:00"), Raw(amount))
                    for amount in ("1e308", "1e400", "1" + "0" * 30, "-1e308")
                ),
                budget(at("10:00"), Raw("1e20")),
            ),
        ),
        kind(
            "more_than_six_decimals",
            "money below a millionth: rounding it away would change the amount",
            lines(
                quarantined(WRONG_TYPE),
                *(
                    click("sd-1", at("10:00"), amount)
                    for amount in (
                        "0.1234567",
                        Raw("0.30000000000000004"),
                        Raw("-0.0000001"),
                        Raw("1e-7"),
                    )
                ),
            ),
        ),
        kind(
            "amounts_beyond_18_decimals",
            "money whose only non-zero digits lie past the 18th decimal (1e-308, 5e-324, "
            "0.1000000000000000055511151231257827) has more than 6 decimals; JSON numbers are "
            "read exactly, never through a double",
            lines(
                quarantined(WRONG_TYPE),
                *(
                    click(
                        f"tiny-{number}",
                        at("10:41"),
                        Raw(amount),
                        advertiser="Probe Tiny",
                        advertiser_id=...,
                    )
                    for number, amount in enumerate(
                        ("1e-308", "5e-324", "0.1000000000000000055511151231257827")
                    )
                ),
            ),
        ),
        kind(
            "numbers_as_strings_and_exponents",
            "money as strings (padded, signed, with exponents), exponents and negative zero as "
            "JSON numbers, a millionth: all exact numbers",
            lines(
                valid,
                *(
                    click(
                        f"ns-{number}",
                        at("10:42"),
                        amount,
                        advertiser_id="STR-1",
                        advertiser="Strings Inc",
                    )
                    for number, amount in enumerate(
                        (
                            "0.25",
                            " 0.25 ",
                            "2.5e-1",
                            "+0.25",
                            Raw("2.5E-1"),
                            Raw("1e2"),
                            Raw("-0"),
                            Raw("-0.0"),
                            Raw("0.000001"),
                            Raw("1.10"),
                        )
                    )
                ),
                budget(at("10:43"), "1000", advertiser_id="STR-1", advertiser=...),
            ),
        ),
        kind(
            "arabic_indic_digits",
            "an amount written in Arabic-Indic digits: Python's Decimal and Java's BigDecimal read "
            "12, but money is plain ASCII digits in the contract and Silver alike: wrong_type",
            lines(
                quarantined(WRONG_TYPE),
                click("aid-1", at("10:44"), "\u0661\u0662", advertiser_id="STR-1", advertiser=...),
            ),
        ),
        kind(
            "digit_group_underscores",
            "an amount string '1_000': Python's Decimal reads 1000 (it allows digit underscores), "
            "but money is plain digits in the contract and Silver alike: wrong_type",
            lines(
                quarantined(WRONG_TYPE),
                click("us-1", at("10:45"), "1_000", advertiser="Probe Underscore"),
            ),
        ),
        kind(
            "negative_money",
            "negative amounts, revenue, budgets, refunds and a click's budget",
            lines(
                quarantined(NEGATIVE_VALUE),
                click("neg-1", at("10:00"), -0.01),
                conversion("neg-cv", at("10:00"), -5),
                budget(at("10:00"), -1),
                refund("a-1", at("10:00"), amount=-2),
                click("neg-5", at("10:00"), 1, budget_value=-3),
            ),
        ),
        kind(
            "money_at_the_limits",
            "the largest accepted click (100000), budget (1e11), revenue (1e9) and refund",
            lines(
                valid,
                click("lim-1", at("11:00"), 100000, advertiser="Limits", advertiser_id="LIM-1"),
                budget(at("11:00"), 100000000000, advertiser=..., advertiser_id="LIM-1"),
                conversion("lim-cv", at("11:00"), 1000000000),
                refund("lim-1", at("12:00"), amount=100000, event_id="lim-r"),
            ),
        ),
        kind(
            "money_over_the_limits",
            "a millionth over each sane limit, as numbers and as strings",
            lines(
                quarantined(VALUE_OUT_OF_RANGE),
                click("ov-1", at("10:00"), Raw("100000.000001")),
                budget(at("10:00"), "100000000000.000001"),
                conversion("ov-cv", at("10:00"), "1000000000.000001"),
                refund("a-1", at("10:00"), amount=100001),
                click("ov-5", at("10:00"), 1, budget_value=Raw("100000000001")),
                budget(at("10:00"), "999999999999.999999"),
            ),
        ),
        kind(
            "money_beyond_decimal_18_6",
            "13 integer digits do not fit DECIMAL(18, 6)",
            lines(
                quarantined(WRONG_TYPE),
                click("big-1", at("10:00"), Raw("1000000000000")),
                budget(at("10:00"), "1000000000000.5"),
            ),
        ),
        kind(
            "money_beyond_double_precision",
            "budgets with 17 significant digits are exact DECIMAL(18, 6) values, kept to the "
            "last digit (a double would make 12345678901.123456 12345678901.123455)",
            lines(
                valid,
                budget(
                    at("10:46"),
                    Raw("12345678901.123456"),
                    advertiser="Probe Precision",
                    advertiser_id=...,
                ),
                budget(
                    at("11:46"),
                    Raw("99999999999.999999"),
                    advertiser="Probe Precision",
                    advertiser_id=...,
                ),
            ),
            lines(
                quarantined(VALUE_OUT_OF_RANGE),
                budget(
                    at("12:46"),
                    Raw("999999999999.999999"),
                    advertiser="Probe Precision",
                    advertiser_id=...,
                ),
            ),
        ),
        kind(
            "invalid_currency",
            "lowercase, symbols, four letters, empty, a space",
            lines(
                quarantined(INVALID_CURRENCY),
                *(
                    click("cur-1", at("10:00"), 1, currency=code)
                    for code in ("usd", "US$", "EURO", "", "\u20ac", "U S")
                ),
            ),
        ),
        kind(
            "currency_with_a_trailing_newline",
            "'USD\\n' is not three capital letters (Java's $ would match before the final line "
            "break; the pattern ends with \\\\z)",
            lines(
                quarantined(INVALID_CURRENCY),
                click("curnl-1", at("10:47"), 1, advertiser="Probe Currency", currency="USD\n"),
            ),
        ),
        kind(
            "invalid_budget_period",
            "a period that is neither day nor month (case, spaces, empty, a number)",
            lines(
                quarantined(INVALID_VALUE),
                *(
                    budget(at("10:00"), 5, budget_period=p)
                    for p in ("fortnight", "Day", "day ", "", 1)
                ),
            ),
        ),
    ]


def _timestamps(recent: Clock) -> list[Kind]:
    """Timestamps."""
    return [
        kind(
            "timestamp_iso_variants",
            "offsets (+14:00, +05:45, -00:00, +0100, +01), fractions of any length, a space for T, "
            "no zone (UTC), surrounding spaces: the hour Gold books them in is their UTC hour",
            lines(
                valid,
                *(
                    click(f"tz-{number}", when, 1, advertiser="Zones Ltd", advertiser_id="ZON-1")
                    for number, when in enumerate(
                        (
                            "2024-03-04T10:00:00+02:00",
                            "2024-03-04 11:30:00",
                            "2024-03-04T12:00:00.123456789Z",
                            "2024-03-04T13:00:00-00:00",
                            "2024-03-04T18:45:00+05:45",
                            "2024-03-05T02:00:00+14:00",
                            "2024-03-04T14:00:00.5+05:30",
                            " 2024-03-04T15:00:00Z ",
                            "2024-03-04T16:00:00+0100",
                            "2024-03-04T17:00:00+01",
                            "2024-03-03T23:59:59.999999-01:00",
                        )
                    )
                ),
            ),
        ),
        kind(
            "timestamp_at_the_earliest_instant",
            "2000-01-01T00:00:00Z is the earliest accepted time; a microsecond earlier is not",
            lines(valid, click("y2k-1", "2000-01-01T00:00:00Z", 1, advertiser="Y2K")),
            lines(
                quarantined(TIMESTAMP_TOO_OLD),
                click("y2k-0", "1999-12-31T23:59:59.999999Z", 1, advertiser="Y2K"),
            ),
        ),
        kind(
            "timestamps_before_2000",
            "broken clocks: the Unix epoch, year 1",
            lines(
                quarantined(TIMESTAMP_TOO_OLD),
                click("old-1", "1970-01-01T00:00:00Z", 1),
                click("old-2", "0001-01-01T00:00:00Z", 1),
            ),
        ),
        kind(
            "timestamps_in_the_future",
            "two hours and a day after the files are written, 2100, year 9999",
            lines(
                quarantined(TIMESTAMP_IN_FUTURE),
                click("fut-1", recent.ahead(timedelta(hours=2)), 1),
                budget(recent.ahead(timedelta(days=1)), 5),
                click("fut-3", "2100-01-01T00:00:00Z", 1),
                click("fut-4", "9999-12-31T23:59:59Z", 1),
            ),
        ),
        kind(
            "timestamps_beyond_python_datetime",
            "9999-12-31T23:00-05:00 is in year 10000 in UTC, 0001-01-01T00:30+01:00 in year 0: "
            "instants outside years 1-9999 are unparsable in the contract and Silver alike",
            lines(
                quarantined(UNPARSABLE_TIMESTAMP),
                click("far-1", "9999-12-31T23:00:00-05:00", 1),
                click("far-2", "0001-01-01T00:30:00+01:00", 1),
            ),
        ),
        kind(
            "year_zero",
            "0000-01-01 is no date Python knows, and outside years 1-9999 for Silver too",
            lines(quarantined(UNPARSABLE_TIMESTAMP), click("y0-1", "0000-01-01T00:00:00Z", 1)),
        ),
        kind(
            "unparsable_timestamps",
            "words, impossible dates and times, leap seconds, zone names, epoch numbers, objects, "
            "a 24-hour offset, fullwidth digits, a lowercase z",
            lines(
                quarantined(UNPARSABLE_TIMESTAMP),
                *(
                    click("up-1", when, 1)
                    for when in (
                        "yesterday noon",
                        "2024-02-30T10:00:00Z",
                        "2024-03-04T24:00:00Z",
                        "2024-03-04T23:59:60Z",
                        "2024-03-04T10:00:00 UTC",
                        "2024-03-04T10:00:00Z[Europe/Paris]",
                        1709546400,
                        {"iso": "2024-03-04T10:00:00Z"},
                        "2024-03-04T10:00:00+24:00",
                        "\uff12\uff10\uff12\uff14-03-04T10:00:00Z",
                        "2024-03-04T10:00:00z",
                    )
                ),
            ),
        ),
        kind(
            "iso_8601_forms_outside_the_contract",
            "the contract's timestamp form (contract.TIMESTAMP_PATTERN) takes a date alone and "
            "a time without seconds; other ISO-8601 forms datetime.fromisoformat would take (the "
            "basic format, a lowercase t, a week date, a decimal comma, an hour alone, an offset "
            "with seconds) are unparsable in the contract and Silver alike",
            lines(
                valid,
                page_view("2024-03-04", user_id="iso-0"),
                page_view("2024-03-04T10:00", user_id="iso-1"),
            ),
            lines(
                quarantined(UNPARSABLE_TIMESTAMP),
                *(
                    page_view(when, user_id=f"iso-{number}")
                    for number, when in enumerate(
                        (
                            "20240304T100000Z",
                            "2024-03-04t10:00:00Z",
                            "2024-W10-1T10:00:00Z",
                            "2024-03-04T10:00:00,5Z",
                            "2024-03-04T10Z",
                            "2024-03-04T10:00:00+02:00:30",
                        )
                    )
                ),
            ),
        ),
        kind(
            "timestamps_silver_reads_but_the_contract_does_not",
            "not the contract's form: a signed year, one-digit month and day, a time without a "
            "date (Spark's own parser would take them)",
            lines(
                quarantined(UNPARSABLE_TIMESTAMP),
                *(
                    page_view(when, user_id=f"noiso-{number}")
                    for number, when in enumerate(
                        ("+2024-03-04T10:00:00Z", "2024-3-4T10:00:00Z", "10:00:00")
                    )
                ),
            ),
        ),
    ]


def _unicode() -> list[Kind]:
    """Unicode."""
    return [
        kind(
            "unicode_names",
            "emoji (raw and as an escaped surrogate pair), right-to-left text and override, "
            "combining marks, CJK, an escaped NUL: all valid names and ids",
            lines(
                valid,
                click("u-1", at("10:50"), 1, advertiser="广告主 😀"),
                click("u-2", at("10:51"), 1, advertiser="مُعلن", advertiser_id="RTL-1"),
                click("u-3", at("10:52"), 1, advertiser="e\u0301clair"),
                click("u-4", at("10:53"), 1, advertiser="\u202eevil"),
                click("u-5", at("10:54"), 1, advertiser="Nul\u0000Co"),
                click("PLACE", at("10:55"), 1, advertiser="Emoji Escaped").replace(
                    "PLACE", "u-\\ud83d\\ude00"
                ),
                budget(at("10:56"), 3, advertiser="广告主 😀"),
            ),
        ),
        kind(
            "lone_surrogate_escapes",
            "escaped UTF-16 halves without their partner (a parser would turn them into '?', so "
            "two ids could collide)",
            lines(
                quarantined(INVALID_UNICODE),
                *(
                    click("PLACE", at("10:00"), 1).replace("PLACE", text)
                    for text in ("\\ud800", "x\\udc00", "\\ud83dA", "\\ude00\\ud83d")
                ),
            ),
        ),
        kind(
            "replacement_character",
            "a literal U+FFFD: it stands for bytes that were not UTF-8",
            lines(
                quarantined(INVALID_UNICODE), click("rc-1", at("10:00"), 1, advertiser="Caf\ufffd")
            ),
        ),
        kind(
            "non_utf8_bytes",
            "Latin-1 bytes in a name, and a line of binary garbage",
            lines(
                quarantined(INVALID_UNICODE),
                click("l1-1", at("10:00"), 1, advertiser="CafeXX").encode().replace(b"XX", b"\xe9"),
            ),
            lines(quarantined(INVALID_UNICODE, MALFORMED_JSON), b"\xff\xfe\x00\x81garbage"),
        ),
    ]


def _sizes() -> list[Kind]:
    """Sizes."""
    return [
        kind(
            "payload_at_the_byte_limit",
            "exactly max_payload_bytes (102400) bytes",
            lines(valid, sized(MAX_PAYLOAD_BYTES)),
        ),
        kind(
            "payload_over_the_byte_limit",
            "one byte over; 40000 three-byte characters (120000 bytes, fewer characters than the "
            "limit); 110000 bytes of garbage",
            lines(
                quarantined(OVERSIZED_PAYLOAD),
                sized(MAX_PAYLOAD_BYTES + 1),
                click("mb-1", at("10:00"), 1, campaign_name="\u20ac" * 40_000),
            ),
            lines(quarantined(OVERSIZED_PAYLOAD, MALFORMED_JSON), "#" * 110_000),
        ),
        kind(
            "very_long_ids",
            "a 10000-character click id and a 20000-character advertiser name",
            lines(valid, click("c" * 10_000, at("10:57"), 1, advertiser="L" * 20_000)),
        ),
    ]


def _ids_and_duplicates() -> list[Kind]:
    """Ids and duplicates."""
    resent_budget = budget(at("09:00"), 12, advertiser="Dupe", advertiser_id="DUP-1")
    resent_refund = refund("a-2", at("09:30"), reason="accidental_click")
    return [
        kind(
            "ids_shared_across_types",
            "one id string '42' for a click, a conversion, a page view's and a refund's event_id: "
            "four different events",
            lines(
                valid,
                click("42", at("11:05"), 2),
                conversion("42", at("11:06"), 9),
                page_view(at("11:07"), event_id="42"),
                refund("42", at("11:08"), event_id="42", amount=0.5),
            ),
        ),
        kind(
            "numeric_looking_string_ids",
            "click ids '7' and '007' are two clicks",
            lines(valid, click("7", at("11:10"), 1), click("007", at("11:11"), 1)),
        ),
        kind(
            "same_click_id_different_payloads",
            "three copies of click dup-1 with different amounts, in two files: the first received "
            "counts",
            lines(valid, click("dup-1", at("09:45"), 5, advertiser="Dupe", advertiser_id="DUP-1")),
            lines(
                duplicate, click("dup-1", at("09:45"), 7, advertiser="Dupe", advertiser_id="DUP-1")
            ),
            lines(
                duplicate,
                click("dup-1", at("09:50"), 9, advertiser="Dupe", advertiser_id="DUP-1"),
                file=4,
            ),
        ),
        kind(
            "exact_resends",
            "a budget update, a refund and a click without ids sent again: the same text, with "
            "trailing spaces, after a byte-order mark; all one event each",
            lines(valid, resent_budget, resent_refund, click("rs-1", at("09:40"), 2.5)),
            lines(duplicate, resent_budget, resent_refund + "  ", file=2),
            lines(
                duplicate,
                "\ufeff" + resent_budget,
                click("rs-1", at("09:40"), 2.5),
                resent_refund,
                file=4,
            ),
        ),
        kind(
            "resend_with_reordered_keys",
            "the same budget update with its keys in another order hashes differently: two "
            "observations of one value",
            lines(
                valid,
                obj(
                    budget_value=12,
                    timestamp=at("09:00"),
                    advertiser_id="DUP-1",
                    advertiser="Dupe",
                    event_type="budget_update",
                ),
                file=2,
            ),
        ),
        kind(
            "event_id_reused_by_budget_updates",
            "a second budget update reusing the event_id bu-1 is a duplicate of the first, in "
            "Silver and the serving stream alike",
            lines(
                valid,
                budget(
                    at("10:00"), 10, advertiser="Reuse Co", advertiser_id="REU-1", event_id="bu-1"
                ),
            ),
            lines(
                duplicate,
                budget(
                    at("11:00"), 99, advertiser="Reuse Co", advertiser_id="REU-1", event_id="bu-1"
                ),
                file=4,
            ),
        ),
        kind(
            "resent_click_with_a_new_budget",
            "a later copy of click rb-1 with another budget_value is a duplicate: its budget "
            "counts nowhere",
            lines(
                valid,
                click(
                    "rb-1",
                    at("10:00"),
                    1,
                    advertiser="Resend Budget",
                    advertiser_id="RSB-1",
                    budget_value=100,
                ),
            ),
            lines(
                duplicate,
                click(
                    "rb-1",
                    at("10:00"),
                    1,
                    advertiser="Resend Budget",
                    advertiser_id="RSB-1",
                    budget_value=0.5,
                ),
                file=4,
            ),
        ),
        kind(
            "duplicate_brings_a_new_advertiser_pair",
            "a later copy of click np-1 gives Nomad an id; being a duplicate it gives Silver and "
            "Gold nothing, so Nomad stays a name, in the serving stream too",
            lines(valid, click("np-1", at("10:00"), 1, advertiser="Nomad")),
            lines(
                duplicate,
                click("np-1", at("10:00"), 1, advertiser="Nomad", advertiser_id="NOM-1"),
                file=4,
            ),
        ),
    ]


def _refunds_and_cancellations() -> list[Kind]:
    """Refunds and cancellations."""
    return [
        kind(
            "refund_of_an_unknown_click",
            "a valid refund of a click nobody sent: nothing to credit",
            lines(valid, refund("ghost-1", at("12:00"), amount=1)),
        ),
        kind(
            "refund_received_before_its_click",
            "the refund of late-1 is in file 2, its click in file 4: credited once the click comes",
            lines(valid, refund("late-1", at("16:00"), event_id="r-late"), file=2),
            lines(valid, click("late-1", at("15:00"), 3), file=4),
        ),
        kind(
            "refund_stamped_before_its_click",
            "a refund stamped an hour before its click: credited in the refund's hour",
            lines(
                valid, refund("early-1", at("09:00"), amount=1.5), click("early-1", at("10:00"), 2)
            ),
        ),
        kind(
            "refund_larger_than_its_click",
            "a refund of 100 for a click of 2.5 credits 2.5",
            lines(
                valid, click("big-r", at("11:00"), 2.5), refund("big-r", at("12:00"), amount=100)
            ),
        ),
        kind(
            "several_refunds_of_one_click",
            "two refunds of one click (the earlier counts), two more of another at one instant "
            "without ids (the smaller id counts), and a refund of 0 in an hour without clicks",
            lines(
                valid,
                click("multi-r", at("11:10"), 4),
                refund("multi-r", at("13:00"), event_id="r-b", amount=1),
                refund("multi-r", at("12:30"), event_id="r-a", amount=2),
                click("tie-r", at("11:20"), 3),
                refund("tie-r", at("14:00"), amount=1),
                refund("tie-r", at("14:00"), amount=2),
                click("zero-r", at("11:30"), 1),
                refund("zero-r", at("20:00"), amount=0),
            ),
        ),
        kind(
            "refund_of_a_quarantined_click",
            "the click has a negative amount; its refund is valid but credits nothing",
            lines(quarantined(NEGATIVE_VALUE), click("badc-1", at("11:40"), -4)),
            lines(valid, refund("badc-1", at("12:40"))),
        ),
        kind(
            "cancellation_of_an_unknown_conversion",
            "a valid cancellation of a conversion nobody sent",
            lines(
                valid,
                obj(
                    event_type="conversion_cancellation",
                    conversion_id="ghost-cv",
                    timestamp=at("12:00"),
                ),
            ),
        ),
    ]


def _budgets() -> list[Kind]:
    """Budgets."""
    return [
        kind(
            "budget_updates_at_one_instant",
            "Acme budgets at 14:00: 80 then 60 in one file (the later line counts), a click's 70 "
            "at the same instant (an update outranks it), then 70 in a later file (received later, "
            "it counts)",
            lines(valid, budget(at("14:00"), 80), budget(at("14:00"), 60, event_id="b-60")),
            lines(valid, click("bi-1", at("14:00"), 1, budget_value=70), file=2),
            lines(valid, budget(at("14:00"), 70, event_id="b-70"), file=4),
        ),
    ]


def _advertisers() -> list[Kind]:
    """Advertisers."""
    return [
        kind(
            "advertiser_by_id_only",
            "Initech sends its id only (labelled INI-3), until file 4 gives its name",
            lines(
                valid,
                budget(at("08:00"), 20, advertiser=..., advertiser_id="INI-3"),
                click("ini-1", at("08:30"), 4, advertiser=..., advertiser_id="INI-3"),
            ),
            lines(
                valid,
                click("ini-2", at("12:30"), 5, advertiser="Initech", advertiser_id="INI-3"),
                file=4,
            ),
        ),
        kind(
            "advertiser_by_name_only",
            "Globex sends its name only (a stand-in key), until file 4 gives it the id GLX-7",
            lines(valid, click("glx-1", at("09:20"), 6, advertiser="Globex")),
            lines(valid, budget(at("09:00"), 8, advertiser="Globex"), file=2),
            lines(
                valid, budget(at("12:00"), 50, advertiser="Globex", advertiser_id="GLX-7"), file=4
            ),
        ),
        kind(
            "advertiser_spelled_differently",
            "Umbrella and umbrella with one id are one advertiser labelled Umbrella; umbrella "
            "alone counts for it; UMBRELLA, never given an id, stays apart",
            lines(
                valid,
                budget(at("09:05"), 25, advertiser="umbrella", advertiser_id="UMB-1"),
                click("umb-1", at("09:35"), 2, advertiser="Umbrella", advertiser_id="UMB-1"),
                file=2,
            ),
            lines(
                valid,
                click("umb-2", at("10:35"), 3, advertiser="umbrella"),
                click("umb-3", at("10:36"), 3, advertiser="UMBRELLA"),
                file=4,
            ),
        ),
        kind(
            "two_advertisers_sharing_a_name",
            "Stark is the name of STK-2 (file 1) and of STK-1 (file 4): clicks naming only Stark "
            "count for the smaller id, STK-1, once it is known. The serving stream (documented) "
            "keeps what it counted under STK-2 before file 4",
            lines(
                valid,
                click("stk-1", at("08:10"), 5, advertiser="Stark", advertiser_id="STK-2"),
                click("stk-2", at("08:20"), 6, advertiser="Stark"),
            ),
            lines(valid, click("stk-3", at("09:20"), 2, advertiser="Stark"), file=2),
            lines(
                valid, budget(at("07:00"), 15, advertiser="Stark", advertiser_id="STK-1"), file=4
            ),
            lines(valid, click("stk-4", at("16:20"), 1, advertiser="Stark"), file=4),
        ),
        kind(
            "several_faults_at_once",
            "no click id, a negative amount, a bad currency and a time in the future: every reason",
            lines(
                quarantined(
                    MISSING_REQUIRED_FIELD, NEGATIVE_VALUE, INVALID_CURRENCY, TIMESTAMP_IN_FUTURE
                ),
                click(..., "2100-01-01T00:00:00Z", -3, currency="dollars"),
            ),
        ),
    ]


def build_corpus(anchor: datetime) -> list[Kind]:
    """The kinds, with lines dated around 2024-03-04 and around `anchor` (aware, about when the
    files are written: events of the last hour before it are recent, others in its future)."""
    recent = Clock(anchor)
    return [
        *_ordinary_input(recent),
        *_line_breaks_and_files(),
        *_not_json_objects(),
        *_event_types(),
        *_required_fields(),
        *_types_of_values(),
        *_timestamps(recent),
        *_unicode(),
        *_sizes(),
        *_ids_and_duplicates(),
        *_refunds_and_cancellations(),
        *_budgets(),
        *_advertisers(),
    ]


# ---------------------------------------------------------------------------------------------
# Landing files
# ---------------------------------------------------------------------------------------------


def placed_lines(kinds: list[Kind]) -> list[PlacedLine]:
    """Every line where the landing files hold it: file by file, a file's first line first,
    then in corpus order, a line without a line break last."""
    placed: list[PlacedLine] = []
    for number, file_name in FILE_NAMES.items():
        own = [(kind.name, line) for kind in kinds for line in kind.lines if line.file == number]
        own.sort(key=lambda item: (not item[1].first_in_file, item[1].end == ""))
        placed += [
            PlacedLine(file_name, offset, name, line) for offset, (name, line) in enumerate(own)
        ]
    return placed


def landing_files(kinds: list[Kind]) -> dict[str, bytes]:
    """File name -> content, in the order they are received."""
    contents = dict.fromkeys(FILE_NAMES.values(), b"")
    for placed in placed_lines(kinds):
        # A bare \r before an empty line's \n would read as one \r\n line break.
        assert not (contents[placed.file_name].endswith(b"\r") and placed.line.content == b"\n")
        contents[placed.file_name] += placed.line.content
    return contents
