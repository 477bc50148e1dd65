"""Config loading: YAML through pydantic models; every error names the file and the dotted key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, model_validator

from driftline.configs import ConfigError, ConfigModel, build_config, key_error, load_config


class Inner(ConfigModel):
    alpha: float = Field(0.05, ge=0.0, le=1.0)
    sizes: list[int] = Field(default_factory=lambda: [8, 8])


class Outer(ConfigModel):
    name: str
    mode: Literal["fast", "exact"] = "fast"
    inner: Inner = Field(default_factory=Inner)
    items: list[Inner] = Field(default_factory=list)
    limit: int | None = Field(None, gt=0)
    weights: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Outer:
        if self.limit is not None and self.limit < len(self.name):
            raise key_error("limit", "must not be shorter than name")
        return self


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_valid_config_builds_nested_models(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "name: x\ninner:\n  alpha: 1\n  sizes: [1, 2]\n"), Outer)
    assert cfg == Outer(name="x", inner=Inner(alpha=1.0, sizes=[1, 2]))
    assert isinstance(cfg.inner.alpha, float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ninner:\n  sizes: [1, wide]\n",
         "c.yaml: inner.sizes[1]: Input should be a valid integer, got str 'wide'"),
        ("name: x\ninner:\n  alpha: 2\n", "c.yaml: inner.alpha: must be <= 1.0, got 2"),
        ("name: x\nlimit: 0\n", "c.yaml: limit: must be > 0, got 0"),
        ("name: x\nmode: slow\n",
         "c.yaml: mode: Input should be 'fast' or 'exact', got str 'slow'"),
        ("name: x\nextra: 1\n",
         "c.yaml: extra: unknown key (allowed: inner, items, limit, mode, name, weights)"),
        ("name: x\ninner: {alpa: 0.1}\n",
         "c.yaml: inner.alpa: unknown key (did you mean 'alpha'? allowed: alpha, sizes)"),
        ("name: x\nitems: [{}, {beta: 1}]\n", "c.yaml: items[1].beta: unknown key"),
        ("mode: fast\n", "c.yaml: name: required key is missing"),
        ("name: x\ninner: 3\n", "c.yaml: inner: expected a mapping, got int 3"),
        ("name: x\nweights:\n  a: yes\n",
         "c.yaml: weights.a: Input should be a valid number, got bool True"),
        ("name: x\nlimit: 2.0\n", "c.yaml: limit: Input should be a valid integer, got float 2.0"),
        ("name: 5\n", "c.yaml: name: Input should be a valid string, got int 5"),
        ("name: abc\nlimit: 1\n", "c.yaml: limit: must not be shorter than name"),
        ("name: [unclosed\n", "c.yaml: not valid YAML"),
        ("- 1\n- 2\n", "c.yaml: <top level>: expected a mapping, got list [1, 2]"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, text), Outer)


def test_all_problems_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "inner: {alpha: -1}\nmode: slow\n"), Outer)
    keys = [line.split(": ")[1] for line in str(info.value).splitlines()]
    assert keys == ["name", "mode", "inner.alpha"]


def test_long_values_are_shortened(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"name": "x" * 500, "mode": "y" * 500}, Outer, source="s.yaml")
    assert len(str(info.value)) < 200 and str(info.value).endswith("yyy...")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml", Outer)


def test_overrides_apply_before_validation(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "name: x\n"), Outer, overrides={"inner.alpha": 0.5})
    assert cfg.inner.alpha == 0.5
    with pytest.raises(ConfigError, match=re.escape("c.yaml: inner.alpha: must be <= 1.0")):
        load_config(write(tmp_path, "name: x\n"), Outer, overrides={"inner.alpha": 1.5})
    with pytest.raises(ConfigError, match=re.escape("<config>: inner.alpha: must be >= 0.0")):
        build_config({"name": "x", "inner": {"alpha": -1}}, Outer)
    with pytest.raises(ConfigError, match=r"name\.first: cannot override inside a non-mapping"):
        load_config(write(tmp_path, "name: x\n"), Outer, overrides={"name.first": "y"})


def test_models_stay_mutable_and_validate_assignments() -> None:
    cfg = build_config({"name": "x"}, Outer)
    cfg.inner.sizes.append(3)
    cfg.mode = "exact"
    assert cfg.inner.sizes == [8, 8, 3] and cfg.mode == "exact"
    with pytest.raises(ValueError, match="'fast' or 'exact'"):
        cfg.mode = "slow"  # type: ignore[assignment]
    assert cfg.mode == "exact"
