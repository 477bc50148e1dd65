"""``driftline check-model`` and ``driftline train-classifier``: a run config's model loads,
probes and runs on the reference as the executor will load it; every bad model input is one
line on stderr naming the file and the key or field, exit code 2, no traceback (run as a real
subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from driftline.utils.cli import main
from tests.model.adapters.factories import SmallNet, save_scripted
from tests.model.tabular_data import Tabular

ROOT = Path(__file__).resolve().parents[3]
FACTORIES = "tests.model.adapters.factories"


def write_config(config: Path, tabular: Tabular, **model: object) -> Path:
    lines = ["model:", f"  artifacts_dir: {tabular.artifacts}"]
    lines += [f"  {key}: {value}" for key, value in model.items()]
    config.write_text("\n".join(lines) + "\n")
    return config


def test_train_classifier_then_check_model(tabular: Tabular, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "run.yaml", tabular, kind="torchscript",
                          path=tmp_path / "model.ts")
    assert main(["train-classifier", "--config", str(config), "--reference",
                 str(tabular.reference), "--epochs", "15", "--seed", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("trained on 1600 rows in ") and "validation accuracy" in out[0]
    assert out[1] == f"wrote {tmp_path / 'model.ts'}"
    assert main(["check-model", "--config", str(config), "--reference",
                 str(tabular.reference)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("kind torchscript, model sha256 ") and out[0].endswith(
        "classes ['low', 'mid', 'high']")
    assert out[1] == ("inputs (7): x, city=north, city=south, city=east, city=west, "
                      "city=__other__, garage")
    assert out[2].startswith("reference: 2000 rows, predicted low ")
    accuracy = float(out[3].split()[2])
    assert out[3].endswith("on 2000 labelled rows") and accuracy > 0.9


def test_train_classifier_refuses_other_kinds(tabular: Tabular, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "run.yaml", tabular, kind="none")
    assert main(["train-classifier", "--config", str(config), "--reference",
                 str(tabular.reference)]) == 2
    assert capsys.readouterr().err == (f"driftline train-classifier: error: {config}: "
                                       "model.kind: train-classifier writes a TorchScript "
                                       "file: kind must be torchscript, got none\n")


def bad_inputs(tabular: Tabular, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each bad model input: its config and the error line it must give."""
    junk = tmp_path / "junk.ts"
    junk.write_bytes(b"PK\x03\x04 truncated")
    weights = tmp_path / "weights.pt"
    torch.save(SmallNet().state_dict(), weights)
    narrow = tmp_path / "narrow.pt"
    torch.save(SmallNet(n_inputs=5).state_dict(), narrow)
    four = save_scripted(SmallNet(n_classes=4), tmp_path / "four.ts")
    good = save_scripted(SmallNet(), tmp_path / "good.ts")
    config = {name: tmp_path / f"{name}.yaml" for name in (
        "not_loadable", "factory_raises", "unresolvable", "state_mismatch", "width",
        "unknown_field")}
    return {
        "not_loadable": (write_config(config["not_loadable"], tabular, kind="torchscript",
                                      path=junk),
                         f"{junk}: model.path: not a loadable TorchScript file (torch.jit.load: "),
        "factory_raises": (write_config(config["factory_raises"], tabular, kind="pytorch",
                                        entry_point=f"{FACTORIES}:failing_factory",
                                        state_dict=weights),
                           f"{config['factory_raises']}: model.entry_point: factory "
                           f"'{FACTORIES}:failing_factory' raised ValueError: hidden must be "
                           "positive, got -1"),
        "unresolvable": (write_config(config["unresolvable"], tabular, kind="pytorch",
                                      entry_point="my_models.tabular:build", state_dict=weights),
                         f"{config['unresolvable']}: model.entry_point: cannot import module "
                         "'my_models.tabular': No module named 'my_models'"),
        "state_mismatch": (write_config(config["state_mismatch"], tabular, kind="pytorch",
                                        entry_point=f"{FACTORIES}:build_small_net",
                                        state_dict=narrow),
                           f"{narrow}: model.state_dict: does not match the module of "
                           f"'{FACTORIES}:build_small_net': 'body.0.weight' has shape (8, 5) in "
                           "the file, (8, 7) in the module"),
        "width": (write_config(config["width"], tabular, kind="torchscript", path=four),
                  f"{four}: model.classes: the model's logits have shape (2, 4) for 2 rows, but "
                  "there are 3 classes ['low', 'mid', 'high']"),
        "unknown_field": (write_config(config["unknown_field"], tabular, kind="torchscript",
                                       path=good, preprocessing="{features: [x, colour]}"),
                          f"{config['unknown_field']}: model.preprocessing.features[1]: field "
                          f"'colour' is not in the schema {tabular.artifacts}/event_schema.yaml "
                          "(fields: x, city, garage)"),
    }


def test_every_bad_model_input_is_one_line_and_exit_2(tabular: Tabular, tmp_path: Path) -> None:
    for case, (config, message) in bad_inputs(tabular, tmp_path).items():
        result = subprocess.run([sys.executable, "-m", "driftline.utils.cli", "check-model",
                                 "--config", str(config)], cwd=ROOT, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 2, (case, result.stderr)
        assert result.stdout == "", case
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, (case, result.stderr)
        assert lines[0].startswith(f"driftline check-model: error: {message}"), (case, lines[0])
