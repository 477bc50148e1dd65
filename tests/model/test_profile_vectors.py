"""Vector fields in the profile: the reservoir keeps every row of a small reference and aligned
rows of every vector field, missing counts are exact, the sample files are written with their
hashes and a changed or foreign file is refused; ``driftline profile --reducer`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from driftline.model.profile import PROFILE_FORMAT_VERSION
from driftline.model.profile_builder import ProfileOptions, build_profile
from driftline.model.profile_files import read_profile, write_profile
from driftline.model.profile_vectors import read_vector_samples
from driftline.utils.cli import main

SCHEMA = """\
fields:
  - {name: x, type: numeric}
  - {name: e, type: vector, length: 3, optional: true}
  - {name: im, path: input.im, type: image, shape: [2, 2]}
"""


def write_reference(tmp_path: Path, n: int) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    e = rng.normal(size=(n, 3)).astype(np.float32)
    im = rng.integers(0, 256, size=(n, 2, 2)).astype(np.float32)
    lines = []
    for i in range(n):
        event = {"x": float(i), "input": {"im": im[i].tolist()}}
        if i % 4:
            event["e"] = e[i].tolist()
        lines.append(json.dumps(event))
    (tmp_path / "ref.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    e[::4] = np.nan
    return tmp_path / "schema.yaml", tmp_path / "ref.jsonl", e, im.reshape(n, 4)


def test_a_small_reference_is_kept_whole_with_aligned_rows(tmp_path: Path) -> None:
    schema, reference, e, im = write_reference(tmp_path, 40)
    profile, report = build_profile(schema, reference)
    assert profile.format_version == PROFILE_FORMAT_VERSION == 3
    assert profile.feature_names == ["x"]
    assert profile.vectors["e"].n_values == 30 and profile.vectors["e"].missing_count == 10
    assert profile.missing_rates == {"x": 0.0, "e": 0.25, "im": 0.0}
    write_profile(tmp_path / "out", profile, schema, files=report.files)
    samples = read_vector_samples(tmp_path / "out", read_profile(tmp_path / "out").vectors)
    np.testing.assert_array_equal(samples["e"], e)
    np.testing.assert_array_equal(samples["im"], im)


def test_a_large_reference_keeps_a_uniform_aligned_sample(tmp_path: Path) -> None:
    schema, reference, e, im = write_reference(tmp_path, 3000)
    profile, report = build_profile(schema, reference, ProfileOptions(vector_sample_size=500,
                                                                      chunk_rows=256))
    write_profile(tmp_path / "out", profile, schema, files=report.files)
    samples = read_vector_samples(tmp_path / "out", profile.vectors)
    assert samples["im"].shape == (500, 4) and profile.vectors["im"].sample_rows == 500
    # every kept row is a reference row, the same one in both files
    rows = {tuple(row): k for k, row in enumerate(np.c_[np.nan_to_num(e, nan=-9), im])}
    kept = np.c_[np.nan_to_num(samples["e"], nan=-9), samples["im"]]
    found = [rows.get(tuple(row)) for row in kept]
    assert None not in found and len(set(found)) == 500 and found == sorted(found)
    assert abs(np.mean(found) - 1500) < 3 * 866 / np.sqrt(500)  # uniform over the rows


def test_written_files_must_be_the_listed_ones_with_their_bytes(tmp_path: Path) -> None:
    schema, reference, _, _ = write_reference(tmp_path, 10)
    profile, report = build_profile(schema, reference)
    with pytest.raises(ValueError, match=r"missing 'reference_vectors_0\.npy'"):
        write_profile(tmp_path / "out", profile, schema)
    with pytest.raises(ValueError, match=r"unlisted 'extra\.npy'"):
        write_profile(tmp_path / "out", profile, schema,
                      files={**report.files, "extra.npy": b""})
    tampered = dict(report.files)
    tampered["reference_vectors_1.npy"] = tampered["reference_vectors_1.npy"] + b"\0"
    with pytest.raises(ValueError, match=r"reference_vectors_1\.npy: its bytes do not hash"):
        write_profile(tmp_path / "out", profile, schema, files=tampered)


def test_a_changed_or_foreign_sample_file_is_refused(tmp_path: Path) -> None:
    schema, reference, _, _ = write_reference(tmp_path, 10)
    profile, report = build_profile(schema, reference)
    write_profile(tmp_path / "out", profile, schema, files=report.files)
    path = tmp_path / "out" / "reference_vectors_1.npy"
    path.write_bytes((tmp_path / "out" / "reference_vectors_0.npy").read_bytes())
    with pytest.raises(ValueError, match=r"reference_vectors_1\.npy: SHA-256 .* differs"):
        read_vector_samples(tmp_path / "out", profile.vectors)


def test_a_vector_field_without_any_value_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "ref.jsonl").write_text(json.dumps({"x": 1, "input": {"im": [[0, 1], [2, 3]]}})
                                        + "\n")
    with pytest.raises(ValueError, match="field 'e' has no value in any of the 1 rows"):
        build_profile(tmp_path / "schema.yaml", tmp_path / "ref.jsonl")


def test_the_cli_fits_the_reducers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema, reference, _, _ = write_reference(tmp_path, 60)
    code = main(["profile", "--schema", str(schema), "--reference", str(reference),
                 "--output-dir", str(tmp_path / "out"), "--progress", "none",
                 "--reducer", "pca:2,field=e", "--reducer", "uae:3,field=im,name=enc",
                 "--reducer", "none,field=im"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "reducer e_pca (pca, field e): 2 components" in out
    assert "reducer enc (uae, field im): 3 components" in out
    profile = read_profile(tmp_path / "out")
    assert [(r.name, r.component_names[-1]) for r in profile.reducers] == [
        ("e_pca", "e_pca_1"), ("enc", "enc_2"), ("im", "im_3")]
    assert (tmp_path / "out" / "reducer_enc.npz").is_file()


@pytest.mark.parametrize(("reducer", "message"), [
    ("pca:x", "argument --reducer: the argument of pca is a number of components"),
    ("pca", "--reducer pca: say which field"),
])
def test_bad_reducers_fail_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          reducer: str, message: str) -> None:
    schema, _, _, _ = write_reference(tmp_path, 5)
    with pytest.raises(SystemExit) if ":x" in reducer else _no_exit():
        code = main(["profile", "--schema", str(schema), "--reference",
                     str(tmp_path / "missing.jsonl"), "--output-dir", str(tmp_path / "o"),
                     "--reducer", reducer])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


class _no_exit:  # noqa: N801 - a context manager used like pytest.raises
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False
