"""BBSD: black-box shift detection through the monitored model's own outputs.

Lipton, Wang & Smola ("Detecting and Correcting for Label Shift with Black Box Predictors", ICML
2018) and Rabanser et al. ("Failing Loudly", NeurIPS 2019, "BBSDs") reduce an input to the
model's softmax output: one component per class, which a KS test per component (Bonferroni) then
compares with the reference. ``output: embedding`` takes the penultimate layer instead
(:attr:`model.adapters.base.Predictions.embedding`).

Nothing is fitted: the reference of the components is the model's output on the reference sample
of the vector fields (:func:`bbsd_reference`), computed where the model is loaded (the pipeline
at start-up), so it always belongs to the model that is served. With a model served elsewhere
(adapter kind ``none``) log its class probabilities in a vector field and reduce that field with
``none`` (``--reducer none,field=probs,name=bbsd``).

Example
-------
>>> import numpy as np
>>> from driftline.model.adapters.base import predictions_from
>>> served = predictions_from(np.array([[0.9, 0.1], [0.2, 0.8]]))
>>> reducer = BBSDReducer("bbsd", "softmax", 2)
>>> reducer.component_names, reducer.outputs(served).tolist()
(['bbsd_0', 'bbsd_1'], [[0.8999999761581421, 0.10000000149011612], [0.20000000298023224, \
0.800000011920929]])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from driftline.model.adapters.base import InputBatch, ModelError, Predictions
from driftline.model.reducers.base import IdentityReducer

__all__ = ["BBSDReducer", "bbsd_reducer", "bbsd_reference"]


class BBSDReducer(IdentityReducer):
    """The model's ``output`` (``"softmax"`` or ``"embedding"``) as the reduced vector."""

    kind = "bbsd"

    def __init__(self, name: str, output: str, n_components: int) -> None:
        if output not in ("softmax", "embedding"):
            raise ValueError(f"output must be softmax or embedding, got {output!r}")
        super().__init__(name, "", n_components)
        self.output = output

    def outputs(self, predictions: Predictions) -> np.ndarray:
        """The ``(n, n_components)`` float32 components of a batch's predictions."""
        values = (predictions.probabilities if self.output == "softmax"
                  else predictions.embedding)
        if values is None:
            raise ModelError(f"reducer {self.name!r} reads the model's {self.output}, which "
                             "these predictions do not carry")
        return self.transform(values)

    def params(self) -> dict[str, Any]:
        return {"output": self.output}


def bbsd_reducer(name: str, output: str, adapter: Any) -> BBSDReducer:
    """The BBSD reducer of ``adapter``'s model (width: its classes or its embedding);
    ``ValueError`` when the model gives no such output."""
    if getattr(adapter, "kind", "") == "none":
        raise ValueError(f"reducer {name!r} (bbsd) needs a model in driftline; a model served "
                         "elsewhere can log its class probabilities in a vector field, reduced "
                         "with none,field=<field>,name=bbsd")
    width = len(adapter.class_names) if output == "softmax" else int(
        getattr(adapter, "embedding_width", 0))
    if width < 1:
        raise ValueError(f"reducer {name!r} (bbsd:{output}) needs a model that returns its "
                         f"{'classes' if output == 'softmax' else 'embedding'} (the config's "
                         "returns: [..., embedding])")
    return BBSDReducer(name, output, width)


def bbsd_reference(reducer: BBSDReducer, adapter: Any,
                   samples: Mapping[str, np.ndarray]) -> np.ndarray:
    """The reducer's components on the reference: the model run on the rows of the vector
    fields' reference samples (:func:`model.profile_vectors.read_vector_samples`) where every
    field has a value."""
    if not samples:
        raise ValueError(f"reducer {reducer.name!r}: the profile has no vector fields, whose "
                         "reference sample the model would run on")
    present = np.all([~np.isnan(block).any(axis=1) for block in samples.values()], axis=0)
    rows = int(present.sum())
    batch = InputBatch(numeric=np.empty((rows, 0)), numeric_names=[],
                       vectors={name: block[present] for name, block in samples.items()})
    try:
        predictions = adapter.predict(batch)
    except ModelError as exc:
        raise ValueError(f"reducer {reducer.name!r}: the model fails on the reference sample of "
                         f"the vector fields ({exc}); BBSD's reference needs a model whose "
                         "inputs are vector or image fields") from None
    return reducer.outputs(predictions)
