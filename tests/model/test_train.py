"""Training: reproducibility, the quality gate, the config schema and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from driftline.configs import ConfigError, load_config
from driftline.model.artifacts import load_artifacts
from driftline.model.config import DEFAULT_CONFIG_PATH, TrainConfig, load_train_config
from driftline.model.network import state_dict_sha256
from driftline.model.train import QualityGateError, TrainResult, check_quality, fit, train_and_save
from driftline.utils.cli import main


def small_config(seed: int = 3, epochs: int = 3) -> TrainConfig:
    config = load_train_config()
    config.optimiser.seed = seed
    config.optimiser.epochs = epochs
    return config


def write_config(path: Path, **sections: dict[str, object]) -> Path:
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    for key, values in sections.items():
        data[key].update(values)
    path.write_text(yaml.safe_dump(data))
    return path


def test_same_seed_gives_bit_identical_weights() -> None:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    first = fit(small_config(seed=3))
    second = fit(small_config(seed=3))
    other = fit(small_config(seed=4))
    assert first.profile.model_sha256 == second.profile.model_sha256
    assert first.profile.model_sha256 == state_dict_sha256(second.network.state_dict())
    assert other.profile.model_sha256 != first.profile.model_sha256
    assert first.profile.to_json() == second.profile.to_json()
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_shipped_config_meets_its_quality_gate(trained: tuple[TrainResult, Path]) -> None:
    result, directory = trained
    config = load_train_config()
    assert result.test_accuracy >= config.quality.min_accuracy
    assert result.test_macro_f1 >= config.quality.min_macro_f1
    assert check_quality(config.quality, result.test_accuracy, result.test_macro_f1) == []
    assert load_artifacts(directory).profile.model_sha256 == result.profile.model_sha256


def test_quality_gate_refuses_to_save(tmp_path: Path) -> None:
    config = small_config()
    config.quality.min_macro_f1 = 0.99
    with pytest.raises(QualityGateError, match=r"test macro-F1 0\.\d+ < quality.min_macro_f1 0.99"):
        train_and_save(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_check_quality_lists_every_missed_invariant() -> None:
    quality = load_train_config().quality
    quality.min_accuracy, quality.min_macro_f1 = 0.8, 0.7
    failures = check_quality(quality, 0.75, 0.65)
    assert len(failures) == 2 and "min_accuracy 0.8" in failures[0]
    assert check_quality(quality, 0.8, 0.7) == []


def test_cli_train_writes_artifacts_and_months_table(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "artifacts"
    code = main(["train", "--config", str(DEFAULT_CONFIG_PATH), "--output-dir", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert (out / "model.pt").is_file() and (out / "reference_profile.json").is_file()
    assert "test accuracy" in printed
    assert "| month | rows | accuracy | macro-F1 |" in printed
    assert "\n| 36 | 1500 |" in printed
    assert main(["months", "--artifacts", str(out), "--months", "1", "36"]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 4 and table[2].startswith("| 1 |") and table[3].startswith("| 36 |")


def test_cli_train_exit_codes_for_gate_and_bad_config(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    strict = write_config(tmp_path / "strict.yaml", quality={"min_accuracy": 0.99})
    out = tmp_path / "out"
    code = main(["train", "--config", str(strict), "--output-dir", str(out), "--epochs", "2"])
    assert code == 1
    assert "quality gate failed, model not saved: test accuracy" in capsys.readouterr().err
    assert not out.exists()
    bad = write_config(tmp_path / "bad.yaml", optimiser={"learnig_rate": 0.1})
    assert main(["train", "--config", str(bad)]) == 2
    assert "bad.yaml: optimiser.learnig_rate: unknown key" in capsys.readouterr().err
    assert main(["months", "--artifacts", str(tmp_path / "none")]) == 2
    assert "not found (run `driftline train` first)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("optimiser", {"epochs": 0}, r"optimiser.epochs: must be >= 1, got 0"),
        ("quality", {"min_accuracy": 1.5}, r"quality.min_accuracy: must be <= 1"),
        ("fallback", {"rule_features": ["age", "speed"]},
         r"fallback.rule_features\[1\]: unknown feature 'speed'"),
        ("network", {"hidden_sizes": []},
         r"network.hidden_sizes: List should have at least 1 item"),
        ("network", {"hidden_sizes": [32, 0]}, r"network.hidden_sizes\[1\]: must be >= 1, got 0"),
        ("network", {"hidden_sizes": [32, "wide"]},
         r"network.hidden_sizes\[1\]: Input should be a valid integer, got str 'wide'"),
        ("profile", {"quantile_levels": [0.5, 0.25]}, r"profile.quantile_levels: must be "
                                                       r"strictly increasing"),
        ("profile", {"quantile_levels": [0.5, 1.5]},
         r"profile.quantile_levels\[1\]: must be <= 1.0, got 1.5"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, section: str, values: dict[str, object],
                                    message: str) -> None:
    path = write_config(tmp_path / "train.yaml", **{section: values})
    with pytest.raises(ConfigError, match=message):
        load_config(path, TrainConfig)
