"""Kafka names as config value types: topic names, topic suffixes and bootstrap server lists.

A name Kafka would refuse passes nowhere: the broker rejects the topic (or the client never
connects) and the executor retries forever. These types reject such values when the config is
loaded, with a message saying what is wrong, and carry a JSON Schema ``pattern`` so that editors
flag them too.

Kafka's rule for a topic name: 1 to 249 characters of ``a-z A-Z 0-9 . _ -``, and neither ``.``
nor ``..``.

Example
-------
>>> topic_name_problem("insurance.events") is None
True
>>> topic_name_problem("bad topic!")
"'bad topic!' contains ' !'; Kafka topic names use only a-z A-Z 0-9 . _ -"
>>> bootstrap_servers_problem("broker-1:9092, [::1]:9093") is None
True
>>> bootstrap_servers_problem("broker-1:9092,broker-2")
"entry 2 ('broker-2') is not host:port"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

__all__ = [
    "MAX_TOPIC_LENGTH",
    "TOPIC_NAME_PATTERN",
    "BootstrapServers",
    "TopicName",
    "TopicSuffix",
    "bootstrap_servers_problem",
    "topic_name_problem",
]

MAX_TOPIC_LENGTH = 249
_LEGAL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
# The same rule as one regular expression without look-arounds (JSON Schema patterns and
# pydantic's regex engine have none): any first character but ".", or "." then a non-dot, or
# ".." then at least one more character.
TOPIC_NAME_PATTERN = (r"^(?:[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,248}|\.[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,247}"
                      r"|\.\.[a-zA-Z0-9._-]{1,247})$")
_SUFFIX_PATTERN = r"^[a-zA-Z0-9._-]{1,248}$"
_HOST = r"(?:[A-Za-z0-9_-][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])"
_SERVER = re.compile(rf"{_HOST}:([0-9]{{1,5}})")
_SERVERS_PATTERN = rf"^\s*{_HOST}:[0-9]{{1,5}}\s*(?:,\s*{_HOST}:[0-9]{{1,5}}\s*)*$"


def _characters_problem(name: str, what: str) -> str | None:
    illegal = "".join(sorted(set(name) - _LEGAL_CHARACTERS))
    if illegal:
        return f"{name!r} contains {illegal!r}; Kafka {what} use only a-z A-Z 0-9 . _ -"
    return None


def topic_name_problem(name: str) -> str | None:
    """Why ``name`` is not a legal Kafka topic name, or None when it is."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_TOPIC_LENGTH:
        return f"is {len(name)} characters long; Kafka allows at most {MAX_TOPIC_LENGTH}"
    if name in (".", ".."):
        return f"{name!r} is not a legal Kafka topic name"
    return _characters_problem(name, "topic names")


def bootstrap_servers_problem(servers: str) -> str | None:
    """Why ``servers`` is not a comma-separated list of ``host:port``, or None when it is."""
    entries = [entry.strip() for entry in servers.split(",")]
    if entries == [""]:
        return "must list at least one host:port"
    for i, entry in enumerate(entries, start=1):
        match = _SERVER.fullmatch(entry)
        if match is None:
            return f"entry {i} ({entry!r}) is not host:port"
        if not 1 <= int(match.group(1)) <= 65535:
            return f"entry {i} ({entry!r}): port must lie in [1, 65535]"
    return None


def _checked(problem_of: Callable[[str], str | None]) -> AfterValidator:
    def check(value: str) -> str:
        problem = problem_of(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _suffix_problem(suffix: str) -> str | None:
    if not suffix:
        return "must not be empty (the dead-letter topic would be the source topic)"
    if len(suffix) >= MAX_TOPIC_LENGTH:
        return f"is {len(suffix)} characters long; topic + suffix must fit in {MAX_TOPIC_LENGTH}"
    return _characters_problem(suffix, "topic names")


TopicName = Annotated[str, _checked(topic_name_problem),
                      WithJsonSchema({"type": "string", "pattern": TOPIC_NAME_PATTERN})]
"""A legal Kafka topic name."""

TopicSuffix = Annotated[str, _checked(_suffix_problem),
                        WithJsonSchema({"type": "string", "pattern": _SUFFIX_PATTERN})]
"""A non-empty run of legal topic characters, appended to a topic name."""

BootstrapServers = Annotated[str, _checked(bootstrap_servers_problem),
                             WithJsonSchema({"type": "string", "pattern": _SERVERS_PATTERN})]
"""``host:port[,host:port...]`` with ports in [1, 65535] (IPv6 hosts in brackets)."""
