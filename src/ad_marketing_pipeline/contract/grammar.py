"""The contract's text grammar: the forms of blank text, timestamps, money and currency codes.

Python (`models`) and Spark (`columns`) read text by these same patterns, so both accept
exactly the same values. Plain Python: no pyspark here.
"""

from __future__ import annotations

CONTRACT_VERSION = "v1"

# Money is exact: DECIMAL(18, 6) holds 12 integer digits and sub-cent prices (CPM costs).
MONEY_PRECISION = 18
MONEY_SCALE = 6

# ASCII whitespace (Spark's `trim` takes spaces only, Python's `\s` and `str.strip` more).
ASCII_WHITESPACE = " \t\n\r\f\x0b"
# A blank text is empty or only ASCII whitespace (the same characters in Java's and Python's
# regexes): a blank required field or advertiser counts as missing.
BLANK_PATTERN = "^[ \\t\\n\\r\\f\\x0B]*$"
# The timestamps the contract accepts: a date, optionally a time (hours and minutes; seconds
# and up to nine decimals, truncated to microseconds, optional) and a zone (Z, +HH, +HHMM or
# +HH:MM). A time without a zone is UTC, and a date alone is its midnight UTC. Python and Spark
# read exactly these forms (ASCII digits only: Python's \d would take other scripts' digits).
TIMESTAMP_PATTERN = (
    "^([0-9]{4}-[0-9]{2}-[0-9]{2})"
    "(?:[T ]([0-9]{2}:[0-9]{2})(:[0-9]{2}(?:\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
# A money value is a JSON number or a string of one, written plainly: ASCII digits with an
# optional sign, point and exponent, ASCII whitespace around it ignored; no underscores, other
# scripts' digits, NaN or Infinity (which Python's Decimal would take, and Java's some of).
MONEY_TEXT = "[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
# For Java's regexes (Spark's rlike); \\z: the very end
MONEY_TEXT_PATTERN = f"^[{ASCII_WHITESPACE}]*(?:{MONEY_TEXT})[{ASCII_WHITESPACE}]*\\z"
CURRENCY_PATTERN = "^[A-Z]{3}\\z"  # \\z: a final line break does not pass (Java's $ lets it)
