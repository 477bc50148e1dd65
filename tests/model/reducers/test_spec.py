"""--reducer specs: the syntax, defaults (Failing Loudly's 32 components, names), and a one-line
error naming the option for every mistake, checked against the schema before data is read."""

from __future__ import annotations

import pytest

from driftline.configs import build_config
from driftline.dataloader.schema import EventSchema
from driftline.model.reducers.spec import (
    MAX_COMPONENTS,
    parse_reducer_option,
    resolve_specs,
)

ONE = build_config({"fields": [{"name": "pixels", "type": "image", "shape": [8, 8]}]},
                   EventSchema)
TWO = build_config({"fields": [{"name": "pixels", "type": "image", "shape": [8, 8]},
                               {"name": "e", "type": "vector", "length": 768}]}, EventSchema)


def names(texts: list[str], schema: EventSchema = ONE) -> list[tuple[str, str, int | None]]:
    specs = resolve_specs([parse_reducer_option(t) for t in texts], schema)
    return [(s.name or "", s.field or "", s.n_components) for s in specs]


def test_defaults() -> None:
    assert names(["pca", "srp", "uae:8", "bbsd", "bbsd:embedding", "none", "pca:0.8"][:6]) == [
        ("pca", "pixels", 32), ("srp", "pixels", 32), ("uae", "pixels", 8), ("bbsd", "", None),
        ("bbsd_embedding", "", None), ("pixels", "pixels", None)]
    spec = resolve_specs([parse_reducer_option("pca:0.8")], ONE)[0]
    assert spec.explained_variance == 0.8 and spec.n_components is None
    assert parse_reducer_option("srp:16,seed=7").seed == 7


def test_several_vector_fields_need_a_field_and_prefix_the_names() -> None:
    assert names(["pca,field=e", "pca,field=pixels", "none,field=pixels,name=raw"], TWO) == [
        ("e_pca", "e", 32), ("pixels_pca", "pixels", 32), ("raw", "pixels", None)]


@pytest.mark.parametrize(("text", "message"), [
    ("lda:3", "unknown reducer kind 'lda' (kinds: none, pca, srp, uae, bbsd)"),
    ("pca:many", "the argument of pca is a number of components"),
    ("pca:1.5", "explained_variance: Input should be less than 1"),
    ("srp:0.5", "the argument of srp is a number of components (an integer)"),
    (f"uae:{MAX_COMPONENTS + 1}", "n_components: Input should be less than or equal to 128"),
    ("bbsd:logits", "the argument of bbsd is softmax or embedding"),
    ("none:3", "none takes no argument"),
    ("pca,colour=red", "'colour=red' is not field=..., name=... or seed=..."),
    ("srp,seed=-1", "seed must be an integer >= 0"),
    ("pca,name=has space", "name: String should match pattern"),
])
def test_bad_options_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_reducer_option(text)
    assert str(caught.value).startswith(f"--reducer {text}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(("texts", "schema", "message"), [
    (["pca"], TWO, "say which field (field=...; vector and image fields: ['e', 'pixels'])"),
    (["pca,field=x"], ONE, "field 'x' is not a vector or image field of the schema"),
    (["pca", "pca"], ONE, "the name 'pca' is taken by another reducer"),
    (["pca:65"], ONE, "65 components of field 'pixels', which has only 64 values"),
    (["none,field=e"], TWO, "has 768 values, more than the 128 components"),
    (["pca"], build_config({"fields": [{"name": "x", "type": "numeric"}]}, EventSchema),
     "vector and image fields: none in the schema"),
])
def test_specs_are_checked_against_the_schema(texts: list[str], schema: EventSchema,
                                              message: str) -> None:
    with pytest.raises(ValueError) as caught:
        resolve_specs([parse_reducer_option(t) for t in texts], schema)
    assert message in str(caught.value)
