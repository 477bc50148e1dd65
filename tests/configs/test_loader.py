"""Config validation: errors name the file and the dotted key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from driftline.configs import ConfigError, build_config, load_config


@dataclass
class Inner:
    alpha: float = field(default=0.05, metadata={"min": 0.0, "max": 1.0})
    sizes: list[int] = field(default_factory=lambda: [8, 8])


@dataclass
class Outer:
    name: str
    mode: Literal["fast", "exact"] = "fast"
    inner: Inner = field(default_factory=Inner)
    limit: int | None = None
    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < len(self.name):
            raise ValueError("limit must not be shorter than name")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_valid_config_builds_nested_dataclasses(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "name: x\ninner:\n  alpha: 1\n  sizes: [1, 2]\n"), Outer)
    assert cfg == Outer(name="x", inner=Inner(alpha=1.0, sizes=[1, 2]))
    assert isinstance(cfg.inner.alpha, float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ninner:\n  sizes: [1, wide]\n", "c.yaml: inner.sizes[1]: expected int, got str"),
        ("name: x\ninner:\n  alpha: 2\n", "inner.alpha: must be <= 1.0"),
        ("name: x\nmode: slow\n", "mode: expected one of ['fast', 'exact']"),
        ("name: x\nextra: 1\n", "extra: unknown key"),
        ("mode: fast\n", "name: required key is missing"),
        ("name: x\ninner: 3\n", "inner: expected a mapping"),
        ("name: x\nweights:\n  a: yes\n", "weights.a: expected a number, got bool"),
        ("name: abc\nlimit: 1\n", "<top level>: limit must not be shorter than name"),
        ("name: [unclosed\n", "not valid YAML"),
        ("- 1\n- 2\n", "<top level>: expected a mapping"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, text), Outer)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml", Outer)


def test_overrides_apply_before_validation(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "name: x\n"), Outer, overrides={"inner.alpha": 0.5})
    assert cfg.inner.alpha == 0.5
    with pytest.raises(ConfigError, match=re.escape("inner.alpha: must be >= 0.0")):
        build_config({"name": "x", "inner": {"alpha": -1}}, Outer)
