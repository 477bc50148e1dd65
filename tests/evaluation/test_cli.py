"""``driftline evaluate``: writes the markdown, JSON and PNG files; config errors name the key."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from driftline.configs import CONFIG_DIR, ConfigError, load_config
from driftline.evaluation.config import EvaluateConfig
from driftline.utils.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """evaluate_small.yaml with the model trained (once per session, shared with the notebook
    tests) into the session's temporary directory."""
    tmp = tmp_path_factory.mktemp("evaluate")
    data = yaml.safe_load((CONFIG_DIR / "evaluate_small.yaml").read_text())
    data["insurance"]["artifacts_dir"] = str(tmp_path_factory.getbasetemp()
                                             / "driftline-artifacts")
    path = tmp / "evaluate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_writes_results_and_figures(small_config: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["evaluate", "--config", str(small_config), "--output-dir", str(out),
                 "--no-progress"]) == 0
    for name in ("statistic_traces.png", "tradeoff.png", "insurance_timeline.png",
                 "insurance_quality.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    markdown = (out / "results.md").read_text()
    assert "## Calibrated: every detector at ARL0 = 200" in markdown
    assert "## Default thresholds (NOT calibrated" in markdown
    assert "| baseline.always_fire | mean_shift_1 |" in markdown
    if importlib.util.find_spec("skmultiflow") is None:
        assert "**ABSENT: scikit-multiflow**" in markdown
        assert "- skmultiflow.PageHinkley: " in markdown
    else:
        assert "| skmultiflow.PageHinkley | mean_shift_1 |" in markdown
        assert "| skmultiflow.DDM | error_rate |" in markdown
    results = json.loads((out / "results.json").read_text())
    rows = {(r["detector"], r["mode"], r["stream"]): r for r in results["rows"]}
    base = rows[("baseline.always_fire", "baseline", "no_drift")]
    assert base["false_alarms_per_10k"] == 1e4
    assert rows[("page_hinkley", "calibrated", "mean_shift_2")]["recall"] == 1.0
    assert {r["stream"] for r in results["insurance"]["summary"]} >= {"age", "model_error"}
    assert results["calibrations"]["page_hinkley"]
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(("patch", "key"), [
    ({"seeds": "zero"}, "bad.yaml: seeds: Input should be a valid list, got str 'zero'"),
    ({"seeds": []}, "bad.yaml: seeds: List should have at least 1 item"),
    ({"detectors": [{"name": "page_hinkley", "threshold_scale": "cubic"}]},
     "detectors[0].threshold_scale"),
    ({"detectors": [{"name": "page_hinkley"}]},
     "detectors[0].threshold_param: required when calibrate is true"),
    ({"tradeoff": {"stream": "nowhere"}}, "tradeoff.stream: unknown stream 'nowhere'"),
    ({"calibration": {"n_stream": 10}}, "calibration.n_stream: unknown key"),
    ({"streams": [{"name": "a", "kind": "mean_shift", "length": 100}]},
     "streams[0].change_points: kind mean_shift needs at least one change point"),
    ({"streams": [{"name": "a", "kind": "mean_shift", "length": 100, "change_points": [50, 100]}]},
     "streams[0].change_points[1]: must lie in (0, length=100), got 100"),
])
def test_config_errors_name_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    patch: dict, key: str) -> None:
    data = yaml.safe_load((CONFIG_DIR / "evaluate_small.yaml").read_text())
    data.update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=None) as info:
        load_config(path, EvaluateConfig)
    assert key in str(info.value)
    assert main(["evaluate", "--config", str(path), "--output-dir", str(tmp_path)]) == 2
    assert key in capsys.readouterr().err


def test_shipped_configs_load() -> None:
    for name in ("evaluate.yaml", "evaluate_small.yaml"):
        config = load_config(CONFIG_DIR / name, EvaluateConfig)
        assert any(d.library == "baseline" for d in config.detectors)
