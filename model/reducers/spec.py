"""Which reducers to fit: ``driftline profile --reducer SPEC`` (repeatable), one
:class:`ReducerSpec` each.

``SPEC`` is ``KIND[:ARG][,key=value...]``:

* ``pca:32`` -- principal components, 32 of them; ``pca:0.8`` -- as many as explain 80% of the
  reference variance (FL's "PCA");
* ``srp:32`` -- a sparse random projection to 32 dimensions (FL's "SRP");
* ``uae:32`` -- an untrained (randomly initialised, seeded) autoencoder's encoder to 32
  dimensions (FL's "UAE");
* ``bbsd`` / ``bbsd:embedding`` -- the monitored model's softmax (FL's "BBSDs") or penultimate
  layer; fitted on nothing, its reference is the model's output on the reference sample;
* ``none`` -- the field itself (FL's "NoRed"; also how a served-elsewhere model's class
  probabilities, logged in a vector field, become BBSD: ``none,field=probs,name=bbsd``).

Keys: ``field`` (the vector or image field; default: the schema's only one), ``name`` (prefix of
the component names and the detectors' ``feature`` label; default the kind, or
``<field>_<kind>`` when the schema has several vector fields, the field's name for ``none``),
``seed`` (srp, uae). Without an argument pca, srp and uae keep 32 components (FL's choice).

Example
-------
>>> from driftline.configs import build_config
>>> from driftline.dataloader.schema import EventSchema
>>> schema = build_config({"fields": [{"name": "pixels", "type": "image", "shape": [8, 8]}]},
...                       EventSchema)
>>> [s.name for s in resolve_specs([parse_reducer_option(t) for t in
...     ("pca:0.9", "srp:16,seed=3", "bbsd", "none")], schema)]
['pca', 'srp', 'bbsd', 'pixels']
>>> try:
...     parse_reducer_option("pca:many")
... except ValueError as exc:
...     print(exc)
--reducer pca:many: the argument of pca is a number of components (an integer) or a fraction of \
explained variance in (0, 1), got 'many'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, ValidationError

from driftline.configs import ConfigModel
from driftline.dataloader.schema import EventSchema

__all__ = ["DEFAULT_COMPONENTS", "KINDS", "MAX_COMPONENTS", "ReducerSpec", "parse_reducer_option",
           "resolve_specs"]

#: the reducer kinds
KINDS = ("none", "pca", "srp", "uae", "bbsd")
#: components of pca, srp and uae when the spec gives none (Failing Loudly's choice)
DEFAULT_COMPONENTS = 32
#: most components of one reducer: each is a ``feature`` label value of the exported metrics
MAX_COMPONENTS = 128


class ReducerSpec(ConfigModel):
    """One reducer to fit (see the module docstring)."""

    kind: Literal["none", "pca", "srp", "uae", "bbsd"]
    field: str | None = None
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)
    n_components: int | None = Field(None, ge=1, le=MAX_COMPONENTS)
    explained_variance: float | None = Field(None, gt=0.0, lt=1.0)
    output: Literal["softmax", "embedding"] = "softmax"
    seed: int = Field(0, ge=0)


def _argument(kind: str, text: str, option: str) -> dict[str, Any]:
    if kind == "bbsd":
        if text not in ("softmax", "embedding"):
            raise ValueError(f"{option}: the argument of bbsd is softmax or embedding, got "
                             f"{text!r}")
        return {"output": text}
    if kind == "none":
        raise ValueError(f"{option}: none takes no argument")
    try:
        if text.isdigit():
            return {"n_components": int(text)}
        if kind == "pca":
            return {"explained_variance": float(text)}
        raise ValueError
    except ValueError:
        wanted = ("a number of components (an integer) or a fraction of explained variance in "
                  "(0, 1)" if kind == "pca" else "a number of components (an integer)")
        raise ValueError(f"{option}: the argument of {kind} is {wanted}, got {text!r}") from None


def parse_reducer_option(text: str) -> ReducerSpec:
    """The :class:`ReducerSpec` of one ``--reducer`` value; ``ValueError`` names the problem."""
    option = f"--reducer {text}"
    head, *pairs = text.split(",")
    kind, _, argument = head.partition(":")
    if kind not in KINDS:
        raise ValueError(f"{option}: unknown reducer kind {kind!r} (kinds: {', '.join(KINDS)})")
    values: dict[str, Any] = {"kind": kind}
    if argument:
        values.update(_argument(kind, argument, option))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in ("field", "name", "seed"):
            raise ValueError(f"{option}: {pair!r} is not field=..., name=... or seed=...")
        if key == "seed" and not value.isdigit():
            raise ValueError(f"{option}: seed must be an integer >= 0, got {value!r}")
        values[key] = int(value) if key == "seed" else value
    try:
        return ReducerSpec.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"{option}: {where}: {error['msg']}") from None


def resolve_specs(specs: Sequence[ReducerSpec], schema: EventSchema) -> list[ReducerSpec]:
    """The specs with their field, name and component count filled in, checked against the
    schema's vector fields; ``ValueError`` names the reducer and the problem."""
    fields = {f.name: f for f in schema.array_fields}
    out: list[ReducerSpec] = []
    names: set[str] = set()
    for spec in specs:
        values = spec.model_dump()
        label = f"--reducer {spec.kind}"
        if spec.kind == "bbsd":
            values["field"] = ""
        elif spec.field is None:
            if len(fields) != 1:
                raise ValueError(f"{label}: say which field (field=...; vector and image fields: "
                                 f"{sorted(fields) or 'none in the schema'})")
            values["field"] = next(iter(fields))
        elif spec.field not in fields:
            raise ValueError(f"{label}: field {spec.field!r} is not a vector or image field of "
                             f"the schema ({sorted(fields) or 'it has none'})")
        field = fields.get(values["field"])
        if values["name"] is None:
            base = {"bbsd": "bbsd" if spec.output == "softmax" else "bbsd_embedding",
                    "none": values["field"]}.get(spec.kind, spec.kind)
            values["name"] = f"{values['field']}_{base}" if (
                len(fields) > 1 and spec.kind not in ("bbsd", "none")) else base
        if values["name"] in names:
            raise ValueError(f"{label}: the name {values['name']!r} is taken by another reducer "
                             "(give name=...)")
        names.add(values["name"])
        if field is not None:
            if spec.kind in ("pca", "srp", "uae") and values["n_components"] is None and (
                    values["explained_variance"] is None):
                values["n_components"] = min(DEFAULT_COMPONENTS, field.size)
            wanted = values["n_components"] or 0
            if spec.kind == "none" and field.size > MAX_COMPONENTS:
                raise ValueError(f"{label}: field {field.name!r} has {field.size} values, more "
                                 f"than the {MAX_COMPONENTS} components a reducer may export; "
                                 "reduce it (pca, srp, uae)")
            if wanted > field.size:
                raise ValueError(f"{label}: {wanted} components of field {field.name!r}, which "
                                 f"has only {field.size} values")
        out.append(ReducerSpec.model_validate(values))
    return out
