"""A partition's state stored as its difference from the fresh pipeline's.

Most of a pipeline state never changes after calibration -- the reference samples of the KS
and NM-DDM detectors, parameters, calibration results -- and every partition's state repeats
them: ~450 KB per partition with the default detectors, of which the reference samples are most.
Dictionaries are compared key by key and lists of records (per-column states) element by
element, at any depth; other values whole.
A checkpoint holds only what differs from the calibrated fresh-pipeline state (the *template*,
which every replica computes identically from the model and the config, or reads from its
cache): :func:`strip_template` replaces each part equal to the template's by a marker and names
the template by its digest; :func:`fill_template` puts the template's parts back, and refuses
(``ValueError``: the partition starts cold) a state stripped against another template.

Example
-------
>>> template = {"reference": [1.0, 2.0, 3.0], "window": [], "params": {"alpha": 0.05}}
>>> state = {"reference": [1.0, 2.0, 3.0], "window": [2.5], "params": {"alpha": 0.05}}
>>> stripped = strip_template(state, template)
>>> stripped["window"], stripped["reference"] == SAME
([2.5], True)
>>> fill_template(stripped, template) == state
True
>>> fill_template(stripped, {**template, "reference": [9.0]})
Traceback (most recent call last):
ValueError: state was stored against another fresh-pipeline template
"""

from __future__ import annotations

import hashlib
from typing import Any

from driftline.executor.state_record import encode_state

__all__ = ["SAME", "TEMPLATE_KEY", "fill_template", "strip_template", "template_digest"]

#: the value standing for "as in the template" (no state holds a string with a NUL in it)
SAME = "\x00same"
#: the key of a stripped state naming its template's digest
TEMPLATE_KEY = "\x00template"


def template_digest(template: dict[str, Any]) -> str:
    """SHA-256 of the template's encoding."""
    return hashlib.sha256(encode_state(template)).hexdigest()


def _records(state: Any, template: Any) -> bool:
    """Lists of records (per-column detector states) are compared element by element; lists
    of numbers (windows) as a whole."""
    return (isinstance(state, list) and isinstance(template, list)
            and len(state) == len(template) and bool(state) and isinstance(state[0], dict))


def _strip(state: Any, template: Any) -> Any:
    if isinstance(state, dict | list) and state and state == template:
        return SAME  # (a number or an empty container is as short as the marker)
    if isinstance(state, dict) and isinstance(template, dict):
        return {k: _strip(v, template[k]) if k in template else v for k, v in state.items()}
    if _records(state, template):
        return [_strip(v, t) for v, t in zip(state, template, strict=True)]
    return state


def strip_template(state: dict[str, Any], template: dict[str, Any],
                   digest: str | None = None) -> dict[str, Any]:
    """``state`` with every part equal to ``template``'s (by key, at any depth) replaced by
    :data:`SAME`, and the template's digest (``digest`` if computed already)."""
    stripped = {k: _strip(v, template[k]) if k in template else v for k, v in state.items()}
    stripped[TEMPLATE_KEY] = digest or template_digest(template)
    return stripped


def _fill(state: Any, template: Any) -> Any:
    if isinstance(state, str) and state == SAME:
        return template
    if isinstance(state, dict) and isinstance(template, dict):
        return {k: _fill(v, template[k]) if k in template else v for k, v in state.items()}
    if (isinstance(state, list) and isinstance(template, list)
            and len(state) == len(template)):
        return [_fill(v, t) for v, t in zip(state, template, strict=True)]
    return state


def fill_template(state: dict[str, Any], template: dict[str, Any],
                  digest: str | None = None) -> dict[str, Any]:
    """The full state of a :func:`strip_template` result (a state stored whole is returned
    as it is); ``ValueError`` if it was stripped against another template."""
    if TEMPLATE_KEY not in state:
        return state
    if state[TEMPLATE_KEY] != (digest or template_digest(template)):
        raise ValueError("state was stored against another fresh-pipeline template")
    return {k: _fill(v, template[k]) if k in template else v
            for k, v in state.items() if k != TEMPLATE_KEY}
