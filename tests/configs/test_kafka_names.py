"""Kafka topic names and bootstrap lists: Kafka's rules, and the JSON Schema pattern agrees."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.configs.kafka_names import (
    MAX_TOPIC_LENGTH,
    TOPIC_NAME_PATTERN,
    bootstrap_servers_problem,
    topic_name_problem,
)

LEGAL = ["a", "insurance.events", "a.b_c-D9", "...", ".a", "..a", "_", "-", "x" * 249]
ILLEGAL = {
    "": "must not be empty",
    ".": "not a legal Kafka topic name",
    "..": "not a legal Kafka topic name",
    "x" * 250: "250 characters long; Kafka allows at most 249",
    "bad topic!": "contains ' !'",
    "events/../../etc": "contains '/'",
    "café": "contains 'é'",
    "tab\there": "contains '\\t'",
}


@pytest.mark.parametrize("name", LEGAL)
def test_legal_topic_names(name: str) -> None:
    assert topic_name_problem(name) is None
    assert re.fullmatch(TOPIC_NAME_PATTERN, name)


@pytest.mark.parametrize(("name", "problem"), ILLEGAL.items(), ids=range(len(ILLEGAL)))
def test_illegal_topic_names_say_why(name: str, problem: str) -> None:
    assert problem in (topic_name_problem(name) or "")
    assert re.fullmatch(TOPIC_NAME_PATTERN, name) is None


def _kafka_rule(name: str) -> bool:
    """Kafka's ``Topic.validate``, written independently: length, the two dot names, charset."""
    return (0 < len(name) <= MAX_TOPIC_LENGTH and name not in (".", "..")
            and all(c.isascii() and (c.isalnum() or c in "._-") for c in name))


@given(st.one_of(st.text(alphabet="._-aZ9", max_size=6),
                 st.text(alphabet="._-aZ9 /é:", max_size=12),
                 st.integers(min_value=245, max_value=252).map(lambda n: "t" * n)))
def test_checker_and_json_schema_pattern_follow_kafkas_rule(name: str) -> None:
    legal = _kafka_rule(name)
    assert (topic_name_problem(name) is None) == legal
    assert (re.fullmatch(TOPIC_NAME_PATTERN, name) is not None) == legal


@pytest.mark.parametrize("servers", ["127.0.0.1:9092", "broker:29092", "a:1,b:65535",
                                     " kafka-0.kafka.svc:9092 , kafka-1:9092", "[::1]:9092"])
def test_legal_bootstrap_lists(servers: str) -> None:
    assert bootstrap_servers_problem(servers) is None


@pytest.mark.parametrize(("servers", "problem"), [
    ("", "must list at least one host:port"),
    ("   ", "must list at least one host:port"),
    ("broker", "entry 1 ('broker') is not host:port"),
    ("a:9092,", "entry 2 ('') is not host:port"),
    ("a:9092,,b:9092", "entry 2 ('') is not host:port"),
    ("a:0", "entry 1 ('a:0'): port must lie in [1, 65535]"),
    ("a:70000", "entry 1 ('a:70000'): port must lie in [1, 65535]"),
    ("a:http", "entry 1 ('a:http') is not host:port"),
    ("kafka://a:9092", "is not host:port"),
    ("a b:9092", "is not host:port"),
])
def test_illegal_bootstrap_lists_say_why(servers: str, problem: str) -> None:
    assert problem in (bootstrap_servers_problem(servers) or "")
