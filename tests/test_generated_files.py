"""Nothing a command generates is committed (the executed notebooks excepted), and every place
the shipped configs write to is git-ignored, so running them leaves the checkout clean."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.executor.config import load_run_config

ROOT = Path(__file__).resolve().parents[1]
#: config keys naming a directory or file a command writes into
OUTPUT_KEYS = {"output_dir", "artifacts_dir", "dir", "path"}
GENERATED = ["*.ckpt", "*.pyc", "*.egg-info/*", "artifacts/*", "runs/*", "checkpoints/*",
             "build/*", "dist/*", "*/.ipynb_checkpoints/*"]


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def git_checkout() -> None:
    if shutil.which("git") is None or _git("rev-parse", "--is-inside-work-tree").returncode:
        pytest.skip("not a git checkout")


def _output_paths(node: Any, dotted: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{dotted}.{key}" if dotted else str(key)
            if path == "source":  # what a run reads (source.file.path: the data to replay)
                continue
            if key in OUTPUT_KEYS and isinstance(value, str):
                yield path, value
            else:
                yield from _output_paths(value, path)


#: the configs: the top-level ones and the worked examples' run configs (not their schemas)
CONFIGS = [*sorted((ROOT / "configs").glob("*.yaml")),
           *(p for p in sorted((ROOT / "configs" / "examples").rglob("*.yaml"))
             if p.name != "schema.yaml")]


def _config_outputs() -> list[tuple[str, str]]:
    outputs = [(f"{config.relative_to(ROOT / 'configs')}: {key}", value)
               for config in CONFIGS
               for key, value in _output_paths(yaml.safe_load(config.read_text()))]
    # demo.yaml has no checkpoint section: the executor's default directory
    default = load_run_config(ROOT / "configs" / "demo.yaml").checkpoint.dir
    return [*outputs, ("default checkpoint.dir", default)]


def test_the_configs_write_somewhere() -> None:
    keys = {key for key, _ in _config_outputs()}
    assert "kafka.yaml: checkpoint.dir" in keys
    assert "evaluate.yaml: output_dir" in keys
    assert "train.yaml: output_dir" in keys
    assert "examples/image_segments/run.yaml: model.path" in keys
    assert "examples/solar_flare/kafka.yaml: checkpoint.dir" in keys


@pytest.mark.parametrize(("key", "path"), _config_outputs())
def test_config_outputs_are_git_ignored(key: str, path: str, git_checkout: None) -> None:
    assert not Path(path).is_absolute(), f"{key}: {path} (expected relative to the checkout)"
    written = f"{path.rstrip('/')}/file.out" if not Path(path).suffix else path
    assert _git("check-ignore", "-q", written).returncode == 0, (
        f"{key} writes to {path}, which .gitignore does not cover")


def test_no_generated_file_is_committed(git_checkout: None) -> None:
    tracked = _git("ls-files").stdout.splitlines()
    assert tracked
    generated = [f for f in tracked if any(fnmatch.fnmatch(f, p) for p in GENERATED)]
    assert not generated, f"generated files are committed: {generated}"
