"""The torch adapters on real tiny models: a TorchScript file saved and reloaded gives the
module's own softmax, batched under ``torch.inference_mode`` in the module's dtype; every way
a model can misbehave at serve time is one ``ModelError``; at load time a model that does not
fit the input or the classes is refused with the file and the key."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from driftline.configs import build_config
from driftline.dataloader.schema import load_schema
from driftline.model.adapters.base import InputBatch, ModelError, ModelLoadError
from driftline.model.adapters.config import PreprocessingConfig, TorchScriptModelConfig
from driftline.model.adapters.loading import load_model_adapter
from driftline.model.adapters.preprocessing import Preprocessor
from driftline.model.adapters.torch_models import TorchModelAdapter, save_torchscript
from driftline.model.profile_files import read_profile
from tests.model.adapters.factories import (
    InferenceModeProbe,
    Misbehaving,
    ScoredNet,
    SmallNet,
    save_scripted,
)
from tests.model.tabular_data import Tabular

ROWS = 300


def rows(tabular: Tabular, n: int = ROWS) -> InputBatch:
    vocabulary = read_profile(tabular.artifacts).categorical["city"].vocabulary()
    codes = [[vocabulary.code(c)[0]] for c in tabular.city[:n]]
    return InputBatch(numeric=np.column_stack([tabular.x[:n], tabular.garage[:n]]),
                      numeric_names=["x", "garage"], categorical=codes,
                      categorical_names=["city"])


def preprocessor(tabular: Tabular) -> Preprocessor:
    return Preprocessor(build_config({}, PreprocessingConfig), load_schema(tabular.schema),
                        read_profile(tabular.artifacts))


def config(tabular: Tabular, path: Path, **extra: Any) -> TorchScriptModelConfig:
    return build_config({"kind": "torchscript", "artifacts_dir": str(tabular.artifacts),
                         "path": str(path), **extra}, TorchScriptModelConfig)


def test_torchscript_file_reloads_and_serves_the_modules_softmax(tabular: Tabular,
                                                                 tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = SmallNet()
    path = save_torchscript(module, tmp_path / "model.ts", preprocessor(tabular),
                            ["low", "mid", "high"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # torch.jit's are not shown
        adapter = load_model_adapter(config(tabular, path))
    batch = rows(tabular)
    served = adapter.predict(batch)
    X = preprocessor(tabular).transform(batch)
    with torch.no_grad():
        expected = torch.softmax(module(torch.from_numpy(X).float()).double(), dim=1).numpy()
    np.testing.assert_allclose(served.probabilities, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(served.labels, expected.argmax(axis=1))
    np.testing.assert_allclose(served.confidence, expected.max(axis=1), rtol=1e-6)
    assert not served.used_fallback.any() and served.risk is None and served.embedding is None
    assert adapter.kind == "torchscript" and adapter.class_names == ["low", "mid", "high"]
    assert adapter.model_sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    assert adapter.describe()["dtype"] == "float32"


def test_batches_run_in_chunks_under_inference_mode_in_the_modules_dtype(
        tabular: Tabular) -> None:
    probe = InferenceModeProbe().double()
    adapter = TorchModelAdapter("pytorch", probe, preprocessor(tabular), ["low", "mid", "high"],
                                ["logits"], batch_size=128)
    whole = TorchModelAdapter("pytorch", probe, preprocessor(tabular), ["low", "mid", "high"],
                              ["logits"], batch_size=10_000)
    chunked = adapter.predict(rows(tabular))
    assert probe.calls == [(True, 128, torch.float64), (True, 128, torch.float64),
                           (True, 44, torch.float64)]
    np.testing.assert_array_equal(chunked.probabilities, whole.predict(rows(tabular)).probabilities)


def test_score_and_embedding_outputs(tabular: Tabular, tmp_path: Path) -> None:
    path = save_scripted(ScoredNet(), tmp_path / "scored.ts")
    adapter = load_model_adapter(config(tabular, path, returns=["logits", "score", "embedding"]))
    served = adapter.predict(rows(tabular, 50))
    assert served.risk.shape == (50,) and served.embedding.shape == (50, 8)
    np.testing.assert_allclose(served.risk, served.embedding.sum(axis=1), rtol=1e-5)
    empty = adapter.predict(rows(tabular, 0))
    assert empty.probabilities.shape == (0, 3) and empty.embedding.shape == (0, 8)


@pytest.mark.parametrize(("mode", "returns", "message"), [
    ("raise", ["logits"], r"RuntimeError: CUDA out of memory \(pretend\)"),
    ("wide", ["logits"], r"the model's logits have shape \(300, 4\), expected \(300, 3\)"),
    ("nan", ["logits"], r"the model's logits are not finite in 1 of 300 rows \(first: row 150\)"),
    ("rows", ["logits"], r"the model's logits have shape \(299, 3\) for 300 rows"),
    ("tuple", ["logits"], r"the model returned 2 outputs, but returns names 1: \['logits'\]"),
    ("numpy", ["logits"], "the model's logits output is a ndarray, not a tensor"),
    ("negative", ["probabilities"], "the model's probabilities of row 0 are not a distribution"),
])
def test_a_misbehaving_model_raises_one_model_error(tabular: Tabular, mode: str,
                                                    returns: list[str], message: str) -> None:
    adapter = TorchModelAdapter("pytorch", Misbehaving(mode), preprocessor(tabular),
                                ["low", "mid", "high"], returns)
    with pytest.raises(ModelError, match=message):
        adapter.predict(rows(tabular))


def test_probabilities_output_is_served_as_is(tabular: Tabular, tmp_path: Path) -> None:
    from tests.model.adapters.factories import ProbabilityNet

    path = save_scripted(ProbabilityNet(), tmp_path / "proba.ts")
    served = load_model_adapter(config(tabular, path, returns=["probabilities"])).predict(
        rows(tabular, 20))
    np.testing.assert_allclose(served.probabilities.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ModelLoadError, match=r"model.returns: on a probe input of zeros: the "
                       "model's probabilities of row 0 are not a distribution"):
        load_model_adapter(config(tabular, save_scripted(SmallNet(), tmp_path / "logits.ts"),
                                  returns=["probabilities"]))


def test_load_errors_name_the_file_and_the_key(tabular: Tabular, tmp_path: Path) -> None:
    junk = tmp_path / "junk.ts"
    junk.write_bytes(b"not a zip archive")
    torch.save(SmallNet().state_dict(), tmp_path / "weights.pt")
    cases = {
        junk: f"{junk}: model.path: not a loadable TorchScript file (torch.jit.load: "
              "PytorchStreamReader failed reading zip archive: not a ZIP archive)",
        tmp_path / "weights.pt": f"{tmp_path / 'weights.pt'}: model.path: not a loadable "
                                 "TorchScript file",
        tmp_path / "absent.ts": f"{tmp_path / 'absent.ts'}: model.path: no such file",
        save_scripted(SmallNet(n_classes=4), tmp_path / "four.ts"):
            f"{tmp_path / 'four.ts'}: model.classes: the model's logits have shape (2, 4) for 2 "
            "rows, but there are 3 classes ['low', 'mid', 'high']",
        save_scripted(SmallNet(n_inputs=5), tmp_path / "narrow.ts"):
            f"{tmp_path / 'narrow.ts'}: model.preprocessing: the model fails on a (2, 7) input "
            "(the preprocessed x, city=north, city=south, city=east, city=west, "
            "city=__other__, ...): RuntimeError: ",
    }
    for path, message in cases.items():
        with pytest.raises(ModelLoadError) as info:
            load_model_adapter(config(tabular, path))
        assert str(info.value).startswith(message), str(info.value)
        assert "\n" not in str(info.value)


def test_a_model_trained_on_other_preprocessing_is_refused(tabular: Tabular,
                                                           tmp_path: Path) -> None:
    path = save_torchscript(SmallNet(), tmp_path / "model.ts", preprocessor(tabular),
                            ["low", "mid", "high"])
    with pytest.raises(ModelLoadError, match=r"model.ts: model.preprocessing: the model was "
                       r"trained on 7 input columns, the preprocessing gives 7; column 0 was "
                       r"'x', is 'city=north'$"):
        load_model_adapter(config(tabular, path, preprocessing={
            "features": ["city", "garage", "x"]}))
    with pytest.raises(ModelLoadError, match=r"model.preprocessing: the model was trained with "
                       r"'x' scaled by mean 49\.7578, std 10\.0207; the preprocessing gives 50, "
                       r"10 \(another profile\?"):
        load_model_adapter(config(tabular, path, preprocessing={
            "scaling": {"x": {"mean": 50.0, "std": 10.0}}}))
    renamed = save_torchscript(SmallNet(), tmp_path / "renamed.ts", preprocessor(tabular),
                               ["a", "b", "c"])
    with pytest.raises(ModelLoadError, match=r"model.classes: the model was trained on classes "
                       r"\['a', 'b', 'c'\], the config gives \['low', 'mid', 'high'\]"):
        load_model_adapter(config(tabular, renamed))
