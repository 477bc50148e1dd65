"""The ``torchscript`` and ``pytorch`` adapters: a torch module over the preprocessed input.

Both kinds end as one :class:`TorchModelAdapter`: the batch is preprocessed
(:class:`~model.adapters.preprocessing.Preprocessor`), cast to the module's dtype and run in
chunks of ``batch_size`` rows under ``torch.inference_mode``; the module returns a tensor or a
tuple whose elements the config's ``returns`` names (``logits`` or ``probabilities``, then
optionally ``score`` and ``embedding``). Every output is checked (count, shape, finiteness,
probabilities that sum to 1); a violation is a :class:`~model.adapters.base.ModelError`.

At load time the module runs once on a two-row probe of the preprocessed width, so a model
that does not accept the input or whose class output is not one column per class fails with a
:class:`~model.adapters.base.ModelLoadError` before any event is read. A TorchScript file
written by :func:`save_torchscript` carries the input columns, classes and scaling it was
trained with (an extra file ``driftline.json``); loading it with other preprocessing is refused.

Example
-------
>>> import tempfile, torch
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> from driftline.model.adapters.base import InputBatch
>>> from driftline.model.adapters.config import PreprocessingConfig
>>> from driftline.model.adapters.preprocessing import Preprocessor
>>> schema = build_config({"fields": [{"name": "x", "type": "numeric"}],
...                        "outputs": {"classes": ["low", "high"]}}, EventSchema)
>>> pre = Preprocessor(build_config({"standardise": "none", "missing": "refuse"},
...                                 PreprocessingConfig), schema, profile=None)
>>> module = torch.nn.Linear(1, 2)
>>> with torch.no_grad():
...     _ = module.weight.copy_(torch.tensor([[-1.0], [1.0]])), module.bias.zero_()
>>> adapter = TorchModelAdapter("pytorch", module, pre, ["low", "high"], ["logits"])
>>> adapter.predict(InputBatch(numeric=[[-2.0], [3.0]], numeric_names=["x"])).labels.tolist()
[0, 1]
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from driftline.model.adapters.base import (
    ModelAdapter,
    ModelError,
    ModelInput,
    ModelLoadError,
    Predictions,
    class_probabilities,
    finite_output,
    predictions_from,
)
from driftline.model.adapters.preprocessing import Preprocessor

__all__ = ["METADATA_FILE", "TorchModelAdapter", "check_metadata", "load_torchscript_module",
           "module_dtype", "save_torchscript"]

#: the extra file of a TorchScript archive describing how the model was trained
METADATA_FILE = "driftline.json"
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_PROBE_ROWS = 2


def module_dtype(module: Any, declared: str = "auto") -> torch.dtype:
    """The input dtype: declared, else that of the first floating parameter or buffer."""
    if declared != "auto":
        return _DTYPES[declared]
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


class TorchModelAdapter(ModelAdapter):
    """A torch module serving class probabilities (see the module docstring).

    Parameters
    ----------
    kind : str
        ``"torchscript"`` or ``"pytorch"``.
    module : torch.nn.Module or torch.jit.ScriptModule
        The model (put in eval mode here).
    preprocessor : Preprocessor
        Builds the input matrix.
    class_names : list of str
        One per column of the class output.
    returns : list of str
        What each element of the module's return value is.
    batch_size : int
        Rows per forward pass.
    dtype : str
        ``"auto"``, ``"float32"`` or ``"float64"`` (see :func:`module_dtype`).
    model_sha256 : str
        Hash of the model file.
    profile : ReferenceProfile, optional
        The reference profile.
    """

    def __init__(self, kind: str, module: Any, preprocessor: Preprocessor,
                 class_names: Sequence[str], returns: Sequence[str], batch_size: int = 8192,
                 dtype: str = "auto", model_sha256: str = "", profile: Any = None) -> None:
        self.kind = kind
        self.module = module.eval()
        self.preprocessor = preprocessor
        self.class_names = list(class_names)
        self.returns = list(returns)
        self.head = next(name for name in self.returns if name in ("logits", "probabilities"))
        self.batch_size = int(batch_size)
        self.dtype = module_dtype(module, dtype)
        self.model_sha256 = model_sha256
        self.input_names = list(preprocessor.input_names)
        self.profile = profile
        self.embedding_width = 0

    def forward(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """The module's outputs on the input matrix ``X``, by ``returns`` name (float64,
        concatenated over the chunks)."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.returns}
        with torch.inference_mode():
            for start in range(0, X.shape[0], self.batch_size):
                chunk = torch.from_numpy(X[start:start + self.batch_size]).to(self.dtype)
                result = self.module(chunk)
                elements = tuple(result) if isinstance(result, tuple | list) else (result,)
                if len(elements) != len(self.returns):
                    raise ModelError(f"the model returned {len(elements)} outputs, but returns "
                                     f"names {len(self.returns)}: {self.returns}")
                for name, element in zip(self.returns, elements, strict=True):
                    if not isinstance(element, torch.Tensor):
                        raise ModelError(f"the model's {name} output is a "
                                         f"{type(element).__name__}, not a tensor")
                    if element.ndim == 0 or element.shape[0] != chunk.shape[0]:
                        raise ModelError(f"the model's {name} have shape "
                                         f"{tuple(element.shape)} for {chunk.shape[0]} rows")
                    parts[name].append(element.detach().to(torch.float64).cpu().numpy())
        return {name: np.concatenate(chunks) for name, chunks in parts.items() if chunks}

    def _predict(self, batch: ModelInput) -> Predictions:
        n_classes = len(self.class_names)
        X = self.preprocessor.transform(batch)
        if X.shape[0] == 0:
            embedding = np.empty((0, self.embedding_width)) if "embedding" in self.returns \
                else None
            return predictions_from(np.empty((0, n_classes)),
                                    np.empty(0) if "score" in self.returns else None, embedding)
        return self._predict_from(self.forward(X), X.shape[0])

    def _predict_from(self, outputs: dict[str, np.ndarray], n: int) -> Predictions:
        probabilities = class_probabilities(outputs[self.head], self.head,
                                            len(self.class_names))
        score = embedding = None
        if "score" in outputs:
            score = outputs["score"]
            if score.ndim == 2 and score.shape[1] == 1:
                score = score[:, 0]
            if score.ndim != 1:
                raise ModelError(f"the model's score has shape {score.shape}, expected "
                                 f"({n},) or ({n}, 1)")
            score = finite_output(score, "score")
        if "embedding" in outputs:
            embedding = outputs["embedding"]
            if embedding.ndim != 2:
                raise ModelError(f"the model's embedding has shape {embedding.shape}, expected "
                                 f"({n}, width)")
            embedding = finite_output(embedding, "embedding")
        return predictions_from(probabilities, score, embedding)

    def probe(self, path: Any) -> None:
        """Run the module on a probe input; :class:`ModelLoadError` if it does not fit."""
        width = self.preprocessor.width
        X = np.zeros((_PROBE_ROWS, width))
        try:
            outputs = self.forward(X)
        except ModelError as exc:
            raise ModelLoadError(path, "model.returns", str(exc)) from None
        except Exception as exc:
            shown = ", ".join(self.input_names[:6]) + (", ..." if width > 6 else "")
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ModelLoadError(path, "model.preprocessing", f"the model fails on a "
                                 f"({_PROBE_ROWS}, {width}) input (the preprocessed {shown}): "
                                 f"{type(exc).__name__}: {text}") from None
        head = outputs[self.head]
        if head.ndim != 2 or head.shape[1] != len(self.class_names):
            raise ModelLoadError(path, "model.classes", f"the model's {self.head} have shape "
                                 f"{head.shape} for {_PROBE_ROWS} rows, but there are "
                                 f"{len(self.class_names)} classes {self.class_names}")
        if "embedding" in outputs:
            if outputs["embedding"].ndim != 2:
                raise ModelLoadError(path, "model.returns", f"the model's embedding has shape "
                                     f"{outputs['embedding'].shape}, expected (rows, width)")
            self.embedding_width = int(outputs["embedding"].shape[1])
        try:  # values: probabilities that are not, NaN from the reference means
            self._predict_from(outputs, _PROBE_ROWS)
        except ModelError as exc:
            raise ModelLoadError(path, "model.returns", f"on a probe input of zeros: "
                                 f"{exc}") from None

    def describe(self) -> dict[str, Any]:
        """What was loaded (adds dtype, returns and the scaling to the base description)."""
        return {**super().describe(), "dtype": str(self.dtype).removeprefix("torch."),
                "returns": list(self.returns), "scaling": self.preprocessor.scaling()}


@contextmanager
def _quiet_jit() -> Iterator[None]:
    """torch 2.13 deprecates ``torch.jit`` in favour of ``torch.export``; the TorchScript
    files users already have still load, so the warning is not theirs to see on every run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated",
                                category=DeprecationWarning)
        yield


def load_torchscript_module(path: str | Path) -> tuple[Any, dict[str, Any] | None]:
    """The TorchScript module at ``path`` and its :data:`METADATA_FILE` (``None`` if absent)."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(path, "model.path", "no such file")
    extra = {METADATA_FILE: ""}
    try:
        with _quiet_jit():
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(path, "model.path", f"not a loadable TorchScript file "
                             f"(torch.jit.load: {text.split('. This is an internal')[0]})"
                             ) from None
    raw = extra[METADATA_FILE]
    if not raw:
        return module, None
    try:
        metadata = json.loads(raw)
    except ValueError as exc:
        raise ModelLoadError(path, "model.path", f"its {METADATA_FILE} is not JSON: "
                             f"{exc}") from None
    return module, metadata if isinstance(metadata, dict) else None


def check_metadata(metadata: dict[str, Any], adapter: TorchModelAdapter, path: Any) -> None:
    """Refuse preprocessing or classes other than those the model was trained with."""
    inputs = metadata.get("inputs")
    if inputs is not None and list(inputs) != adapter.input_names:
        position = next((i for i, (a, b) in enumerate(zip(inputs, adapter.input_names,
                                                          strict=False)) if a != b),
                        min(len(inputs), len(adapter.input_names)))
        trained = inputs[position] if position < len(inputs) else "(end)"
        now = adapter.input_names[position] if position < len(adapter.input_names) else "(end)"
        raise ModelLoadError(path, "model.preprocessing", f"the model was trained on "
                             f"{len(inputs)} input columns, the preprocessing gives "
                             f"{len(adapter.input_names)}; column {position} was {trained!r}, "
                             f"is {now!r}")
    classes = metadata.get("classes")
    if classes is not None and list(classes) != adapter.class_names:
        raise ModelLoadError(path, "model.classes", f"the model was trained on classes "
                             f"{list(classes)}, the config gives {adapter.class_names}")
    scaling = adapter.preprocessor.scaling()
    for name, (mean, std) in (metadata.get("scaling") or {}).items():
        if name in scaling and not np.allclose(scaling[name], [mean, std], rtol=1e-9,
                                               atol=0.0):
            now_mean, now_std = scaling[name]
            raise ModelLoadError(path, "model.preprocessing", f"the model was trained with "
                                 f"{name!r} scaled by mean {mean:.6g}, std {std:.6g}; the "
                                 f"preprocessing gives {now_mean:.6g}, {now_std:.6g} (another "
                                 "profile? retrain, or declare scaling)")


def save_torchscript(module: Any, path: str | Path, preprocessor: Preprocessor,
                     class_names: Sequence[str]) -> Path:
    """Script ``module`` and save it with the metadata :func:`check_metadata` reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"inputs": list(preprocessor.input_names), "classes": list(class_names),
                "scaling": preprocessor.scaling()}
    tmp = path.with_name(path.name + ".tmp")
    with _quiet_jit():
        scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(
            module.eval())
        torch.jit.save(scripted, str(tmp), _extra_files={METADATA_FILE: json.dumps(metadata)})
    tmp.replace(path)
    return path
