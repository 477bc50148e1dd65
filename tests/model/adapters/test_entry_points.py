"""The ``pytorch`` kind: ``module:factory`` and ``file.py:factory`` entry points, the state_dict
loaded with ``weights_only=True`` (a pickle-bearing file is refused), every way the pair can
be wrong as one line naming the file and the key, and the insurance network served through
this generic path giving the trained model's own probabilities."""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from driftline.configs import build_config
from driftline.model.adapters.base import InputBatch, ModelLoadError
from driftline.model.adapters.config import PyTorchModelConfig
from driftline.model.adapters.entry_points import build_module, resolve_entry_point
from driftline.model.adapters.loading import load_model_adapter
from driftline.model.artifacts import load_artifacts
from driftline.model.profile_files import read_profile
from tests.model.adapters.factories import SmallNet, build_small_net
from tests.model.tabular_data import Tabular

FACTORY = "tests.model.adapters.factories:build_small_net"


class Smuggled:
    """Not a tensor: ``torch.load(weights_only=True)`` must not unpickle it."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("code ran while loading the state_dict",))


def config(tabular: Tabular, state_dict: Path, entry_point: str = FACTORY,
           **extra: Any) -> PyTorchModelConfig:
    return build_config({"kind": "pytorch", "artifacts_dir": str(tabular.artifacts),
                         "entry_point": entry_point, "state_dict": str(state_dict), **extra},
                        PyTorchModelConfig)


def weights(path: Path, module: torch.nn.Module | None = None, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    torch.save((module or SmallNet()).state_dict(), path)
    return path


def test_pytorch_adapter_serves_the_factory_module_with_the_saved_weights(
        tabular: Tabular, tmp_path: Path) -> None:
    path = weights(tmp_path / "weights.pt", seed=3)
    adapter = load_model_adapter(config(tabular, path))
    torch.manual_seed(3)
    reference_module = SmallNet().eval()
    vocabulary = read_profile(tabular.artifacts).categorical["city"].vocabulary()
    batch = InputBatch(numeric=np.column_stack([tabular.x, tabular.garage]),
                       numeric_names=["x", "garage"],
                       categorical=[[vocabulary.code(c)[0]] for c in tabular.city],
                       categorical_names=["city"])
    X = adapter.preprocessor.transform(batch)
    with torch.no_grad():
        expected = torch.softmax(reference_module(torch.from_numpy(X).float()).double(), 1)
    np.testing.assert_allclose(adapter.predict(batch).probabilities, expected.numpy(),
                               rtol=1e-6, atol=1e-9)
    assert adapter.kind == "pytorch"


def test_a_factory_in_a_python_file_relative_to_the_base_dir(tabular: Tabular,
                                                             tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text(
        "from torch import nn\n\n\nclass Nets:\n    @staticmethod\n"
        "    def linear(width: int) -> nn.Module:\n        return nn.Linear(width, 3)\n")
    torch.save(torch.nn.Linear(7, 3).state_dict(), tmp_path / "linear.pt")
    adapter = load_model_adapter(config(tabular, Path("linear.pt"), "nets.py:Nets.linear",
                                        factory_kwargs={"width": 7}), base_dir=tmp_path)
    assert adapter.predict(InputBatch(numeric=[[50.0, 1.0]], numeric_names=["x", "garage"],
                                      categorical=[[0]], categorical_names=["city"])
                           ).probabilities.shape == (1, 3)


def test_weights_only_refuses_a_pickle_bearing_state_file(tabular: Tabular, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          ) -> None:
    state = OrderedDict(SmallNet().state_dict())
    state["smuggled"] = Smuggled()  # type: ignore[assignment]
    path = tmp_path / "pickled.pt"
    torch.save(state, path)
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(config(tabular, path))
    assert str(info.value).startswith(f"{path}: model.state_dict: refused by "
                                      "torch.load(weights_only=True): Unsupported global: "
                                      "GLOBAL print was not an allowed global by default;")
    assert str(info.value).endswith("save only tensors, with "
                                    "torch.save(module.state_dict(), path)")
    assert "code ran" not in capsys.readouterr().out


def test_a_nested_state_dict_checkpoint_is_accepted(tabular: Tabular, tmp_path: Path) -> None:
    torch.manual_seed(1)
    module = SmallNet()
    torch.save({"state_dict": module.state_dict(), "epoch": 3}, tmp_path / "checkpoint.pt")
    adapter = load_model_adapter(config(tabular, tmp_path / "checkpoint.pt"))
    assert all(torch.equal(a, b) for a, b in zip(adapter.module.state_dict().values(),
                                                 module.state_dict().values(), strict=True))


def bad_state(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.pt"
    state = SmallNet().state_dict()
    if case == "missing":
        state.pop("head.bias")
    elif case == "unexpected":
        state["extra.weight"] = torch.zeros(2)
    elif case == "shape":
        state["head.weight"] = torch.zeros(4, 8)
    elif case == "not_a_mapping":
        torch.save([torch.zeros(2)], path)
        return path
    elif case == "corrupt":
        path.write_bytes(b"\x80\x02garbage")
        return path
    torch.save(state, path)
    return path


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "model.state_dict: does not match the module of '{factory}': missing keys "
                "['head.bias']"),
    ("unexpected", "model.state_dict: does not match the module of '{factory}': unexpected "
                   "keys ['extra.weight']"),
    ("shape", "model.state_dict: does not match the module of '{factory}': 'head.weight' has "
              "shape (4, 8) in the file, (3, 8) in the module"),
    ("not_a_mapping", "model.state_dict: is not a state_dict (a mapping of parameter names to "
                      "tensors), got list"),
    ("corrupt", "model.state_dict: cannot load (not a torch.save file?): Unsupported operand "
                "103"),
    ("absent", "model.state_dict: no such file"),
])
def test_a_state_dict_that_does_not_match_names_the_file(tabular: Tabular, tmp_path: Path,
                                                         case: str, message: str) -> None:
    path = bad_state(tmp_path, case) if case != "absent" else tmp_path / "absent.pt"
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(config(tabular, path))
    assert str(info.value).startswith(f"{path}: " + message.format(factory=FACTORY))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("entry_point", "kwargs", "message"), [
    ("no_such_package.nets:build", {}, "run.yaml: model.entry_point: cannot import module "
     "'no_such_package.nets': No module named 'no_such_package'"),
    ("tests.model.adapters.factories:build_large_net", {}, "run.yaml: model.entry_point: "
     "module 'tests.model.adapters.factories' has no attribute 'build_large_net'"),
    ("tests.model.adapters.factories:NOT_CALLABLE", {}, "run.yaml: model.entry_point: "
     "'tests.model.adapters.factories:NOT_CALLABLE' is a int, not a callable factory"),
    ("tests.model.adapters.factories:failing_factory", {}, "run.yaml: model.entry_point: "
     "factory 'tests.model.adapters.factories:failing_factory' raised ValueError: hidden must "
     "be positive, got -1"),
    (FACTORY, {"hidden": 0}, f"run.yaml: model.entry_point: factory '{FACTORY}' raised "
     "ValueError: hidden must be positive, got 0"),
    (FACTORY, {"depth": 2}, f"run.yaml: model.entry_point: factory '{FACTORY}' raised "
     "TypeError: build_small_net() got an unexpected keyword argument 'depth'"),
    ("tests.model.adapters.factories:not_a_module", {}, "run.yaml: model.entry_point: factory "
     "'tests.model.adapters.factories:not_a_module' returned a dict, not a torch.nn.Module"),
    ("missing.py:build", {}, "run.yaml: model.entry_point: {tmp}/missing.py: no such file"),
])
def test_an_entry_point_that_does_not_resolve_or_build_names_it(
        tabular: Tabular, tmp_path: Path, entry_point: str, kwargs: dict[str, Any],
        message: str) -> None:
    path = weights(tmp_path / "weights.pt")
    with pytest.raises(ModelLoadError) as info:
        load_model_adapter(config(tabular, path, entry_point, factory_kwargs=kwargs),
                           source="run.yaml", base_dir=tmp_path)
    assert str(info.value) == message.format(tmp=tmp_path)


def test_a_module_file_that_fails_to_import_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import torch\nraise ImportError('needs torchvision')\n")
    with pytest.raises(ModelLoadError, match=re.escape(
            f"{tmp_path / 'broken.py'}: model.entry_point: importing it raised ImportError: "
            "needs torchvision")):
        resolve_entry_point("broken.py:build", tmp_path)
    assert isinstance(build_module(FACTORY, {"n_inputs": 2}), SmallNet)
    assert resolve_entry_point(FACTORY) is build_small_net


def test_the_insurance_network_through_the_pytorch_kind_matches_the_trained_model(
        artifacts_dir: Path, tmp_path: Path) -> None:
    """The generic path on today's model: GroupNet from its architecture, its state_dict
    from model.pt, no driftline preprocessing (the network standardises itself)."""
    payload = torch.load(artifacts_dir / "model.pt", weights_only=True)
    torch.save(payload["state_dict"], tmp_path / "groupnet.pt")
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "reference_profile.json").write_bytes(
        (artifacts_dir / "reference_profile.json").read_bytes())
    from driftline.dataloader.insurance import DATA_DIR

    loaded = load_artifacts(artifacts_dir)
    model_config = build_config({
        "kind": "pytorch", "artifacts_dir": str(tmp_path / "artifacts"),
        "entry_point": "driftline.model.network:GroupNet",
        "factory_kwargs": payload["architecture"], "state_dict": str(tmp_path / "groupnet.pt"),
        "returns": ["logits", "score"], "preprocessing": {"standardise": "none"}},
        PyTorchModelConfig)
    adapter = load_model_adapter(model_config, schema_path=DATA_DIR / "schema.yaml")
    batch = InputBatch.from_profile(loaded.profile)
    served = adapter.predict(batch)
    probabilities, _ = loaded.predict_network(batch.numeric)
    assert adapter.describe()["dtype"] == "float64"
    np.testing.assert_allclose(served.probabilities, probabilities, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(served.labels, probabilities.argmax(axis=1))
