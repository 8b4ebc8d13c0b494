"""Which keys and text hold a secret, and masking secrets in free text.

A key holds a secret when it names one of the secret words (password, token, connection string,
...), anywhere and in any case, or the longer of them one typo away. Spark's redaction settings
(spark.py) use the same patterns.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable

MASK = "**********"  # what pydantic prints for a SecretStr
# Words that make a key's value a secret, found anywhere in the key and in any case. Spark's
# redaction settings (spark.py) use them too, so the syntax is what Python's `re` and Java's
# regex both read.
_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)|pwd|secret|token|credential|jaas|bearer|authorization"
    r"|connection[._-]?string|shared[._-]?access|(?<![a-z])sas(?![a-z])|(?<![a-z])sig(?![a-z])"
    r"|(?:api|access|account|private|keystore)[._-]?key|auth[._-]?header|user[._-]?info"
)
SECRET_KEY_PATTERN = f"(?i)(?:{_SECRET_WORDS})"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
# A secret-looking key with its value inside free text: `password="..."` (JAAS),
# `SharedAccessKey=...` (connection strings), `'client_secret': '...'` (a printed mapping),
# `kafka.ssl.keystore.password -> ...` (a Scala map in a Spark plan). The key goes too; a
# value already masked (`*****`) is left as it is.
SECRET_TEXT_PATTERN = (
    rf"(?i)(?:{_SECRET_WORDS})[\w.$-]*(?:"
    rf"\s*=\s*(?!\*)(?:{_QUOTED}|'[^']*'|[^\s;,&)\"']+)"
    rf"|['\"]\s*:\s*(?:{_QUOTED}|'(?:[^'\\]|\\.)*')"
    rf"|\s*->\s*(?!\*)(?:{_QUOTED}|[^,)\"])*)"
)


# The longer of those words, also recognised one typo away (`pasword`, `secrt`, `tokn`): the
# keys of free-form maps (`source.options`, `spark.conf`) are checked by no model, so such a
# misspelled key still holds a secret. (Spark's regexes cannot do this.)
_SECRET_SPELLINGS = (
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "connectionstring",
    "sharedaccesskey",
    "authorization",
)


def is_secret_key(name: str) -> bool:
    """Whether a setting called `name` (or any key path or text holding such a name) holds a
    secret: password, token, JAAS config, connection string, SAS, account key, ..., or a
    misspelling of the longer of these words."""
    if re.search(SECRET_KEY_PATTERN, name):
        return True
    words = [word for word in re.split(r"[^a-z0-9]+", name.lower()) if word]
    candidates = words + [first + second for first, second in itertools.pairwise(words)]
    return any(
        _one_edit_apart(candidate, spelling)
        for candidate in candidates
        for spelling in _SECRET_SPELLINGS
    )


def _one_edit_apart(typed: str, word: str) -> bool:
    """Whether `typed` is `word` with at most one letter left out, added, changed, or swapped
    with its neighbour."""
    if abs(len(typed) - len(word)) > 1:
        return False
    same = 0
    while same < min(len(typed), len(word)) and typed[same] == word[same]:
        same += 1
    rest_typed, rest_word = typed[same:], word[same:]
    return (
        rest_typed[1:] == rest_word[1:]
        or rest_typed == rest_word[1:]
        or rest_typed[1:] == rest_word
        or (rest_typed[:2] == rest_word[:2][::-1] and rest_typed[2:] == rest_word[2:])
    )


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets` (as written, JSON- or repr-escaped) and every
    secret-looking `key=value` masked: for error text that may quote anything."""
    variants = {form for secret in secrets if secret for form in _written_forms(secret)}
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, MASK)
    return re.sub(SECRET_TEXT_PATTERN, MASK, text)


def _holds_secret(text: str) -> bool:
    """Whether `text` holds a secret-looking `key=value` (a JAAS line, a connection string)."""
    return re.search(SECRET_TEXT_PATTERN, text) is not None


def _written_forms(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}
