"""The untrained autoencoder (Failing Loudly's "UAE"): the encoder half of an autoencoder,
randomly initialised and never trained, as a reducer.

Rabanser, Günnemann & Lipton ("Failing Loudly", NeurIPS 2019) found a random convolutional
encoder a cheap, model-free reducer that keeps enough structure of images to detect shifts. Here
inputs are first centred by the reference mean and divided by the reference's overall standard
deviation (one number), then:

* image fields ``[height, width(, channels)]``: two blocks of 3x3 convolution (16, then 8
  channels; padding 1), ReLU and 2x2 max pooling (ceil mode), flattened, then a linear map to
  ``n_components`` -- an 8x8 digit gives 2x2x8 = 32 values before the linear map;
* vector fields: a two-layer perceptron ``size -> max(2 k, 64) -> k`` with a ReLU between.

Weights are torch's default initialisation drawn under ``seed`` (torch's global random state is
restored afterwards) and stored with the profile, so a loaded encoder does not depend on torch's
random streams.

Example
-------
>>> import numpy as np
>>> reference = np.random.default_rng(0).random((100, 64)).astype(np.float32)
>>> uae = fit_uae("uae", "pixels", reference, [8, 8], 32, seed=0)
>>> uae.transform(reference[:5]).shape, sorted(uae.arrays())[:3]
((5, 32), ['encoder.0.bias', 'encoder.0.weight', 'encoder.3.bias'])
>>> again = UntrainedEncoder.from_stored("uae", "pixels", uae.params(), uae.arrays())
>>> bool(np.array_equal(again.transform(reference), uae.transform(reference)))
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from driftline.model.reducers.base import BATCH_ROWS, Reducer

__all__ = ["UntrainedEncoder", "build_encoder", "fit_uae"]

_CHANNELS = (16, 8)


def build_encoder(shape: Sequence[int], n_components: int) -> nn.Sequential:
    """The encoder of a field of ``shape`` (``[size]``, ``[h, w]`` or ``[h, w, c]``)."""
    if len(shape) == 1:
        hidden = max(2 * n_components, 64)
        return nn.Sequential(nn.Linear(shape[0], hidden), nn.ReLU(),
                             nn.Linear(hidden, n_components))
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    layers: list[nn.Module] = []
    for out in _CHANNELS:
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(),
                   nn.MaxPool2d(2, ceil_mode=True)]
        channels, height, width = out, math.ceil(height / 2), math.ceil(width / 2)
    layers += [nn.Flatten(), nn.Linear(channels * height * width, n_components)]
    return nn.Sequential(*layers)


class UntrainedEncoder(Reducer):
    """A randomly initialised encoder (see the module docstring)."""

    kind = "uae"

    def __init__(self, name: str, field: str, shape: Sequence[int], encoder: nn.Module,
                 mean: np.ndarray, scale: float, n_components: int, seed: int,
                 batch_size: int = BATCH_ROWS) -> None:
        self.shape = [int(extent) for extent in shape]
        super().__init__(name, field, math.prod(self.shape), n_components, batch_size)
        self.encoder = encoder.eval()
        self.mean = np.ascontiguousarray(mean, dtype=np.float32)
        self.scale = float(scale)
        self.seed = int(seed)
        self._mean_t = torch.from_numpy(self.mean)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self._mean_t) / self.scale
        if len(self.shape) == 2:
            x = x.reshape(-1, 1, self.shape[0], self.shape[1])
        elif len(self.shape) == 3:
            x = x.reshape(-1, *self.shape).permute(0, 3, 1, 2)
        return self.encoder(x)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"encoder.{key}": value.detach().numpy().copy()
               for key, value in self.encoder.state_dict().items()}
        out["mean"] = self.mean
        return out

    def params(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "shape": list(self.shape), "scale": self.scale,
                "seed": self.seed}

    @classmethod
    def from_stored(cls, name: str, field: str, params: dict[str, Any],
                    arrays: dict[str, np.ndarray]) -> UntrainedEncoder:
        """Rebuild from :meth:`params` and :meth:`arrays`."""
        state = {key.removeprefix("encoder."): torch.from_numpy(np.array(value))
                 for key, value in arrays.items() if key.startswith("encoder.")}
        n_components = int(state[max(state, key=lambda k: int(k.split(".")[0]))].shape[0])
        encoder = build_encoder(params["shape"], n_components)
        encoder.load_state_dict(state)
        return cls(name, field, params["shape"], encoder, arrays["mean"], params["scale"],
                   n_components, params["seed"])


def fit_uae(name: str, field: str, reference: np.ndarray, shape: Sequence[int],
            n_components: int, seed: int = 0) -> UntrainedEncoder:
    """An untrained encoder of a field of ``shape``, its input scaling taken from the reference
    rows ``(n, size)``."""
    X = np.asarray(reference, dtype=np.float64)
    mean = X.mean(axis=0)
    scale = float(np.std(X - mean))
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        encoder = build_encoder(shape, n_components)
    finally:
        torch.random.set_rng_state(generator_state)
    return UntrainedEncoder(name, field, shape, encoder, mean, scale if scale > 0 else 1.0,
                            n_components, seed)
