"""``driftline profile`` end to end: writes the profile and the schema copy that the executor's
loaders read, prints one line per stage when not on a terminal, and turns every bad input into
one error line naming the file and the field, with exit code 2 and no traceback."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from driftline.dataloader.insurance import DATA_DIR
from driftline.model.profile_files import MODEL_FILE, PROFILE_FILE, SCHEMA_FILE, read_profile
from driftline.utils.cli import main

SCHEMA = DATA_DIR / "schema.yaml"
REFERENCE = DATA_DIR / "reference.csv.gz"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["profile", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_writes_the_artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "artifacts"
    code, out, err = run(capsys, "--schema", str(SCHEMA), "--reference", str(REFERENCE),
                         "--output-dir", str(out_dir), "--sample-size", "1000")
    assert code == 0, err
    assert "profiled 1,500 rows" in out and f"wrote {out_dir / PROFILE_FILE}" in out
    profile = read_profile(out_dir)
    assert profile.n_reference == 1500 and len(profile.reference_samples["age"]) == 1000
    assert (out_dir / SCHEMA_FILE).read_bytes() == SCHEMA.read_bytes()
    assert profile.schema_sha256 == hashlib.sha256(SCHEMA.read_bytes()).hexdigest()
    lines = err.splitlines()
    assert lines[0].startswith("reading ") and lines[1].startswith("reading: 1,500 rows in")
    assert any(line.startswith("hashing") for line in lines)
    assert lines[-1] == (f"driftline profile: warning: {REFERENCE}: ignoring columns not in "
                         "the schema: training, risk, group_name")


def test_progress_can_be_silenced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--schema", str(SCHEMA), "--reference", str(REFERENCE),
                       "--output-dir", str(tmp_path), "--progress", "none",
                       "--unknown-columns", "ignore")
    assert code == 0 and err == ""


def bad_reference(tmp_path: Path, text: str, name: str = "ref.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER = "age,emergency_braking,braking_distance,power,miles,group\n"


@pytest.mark.parametrize(("case", "message"), [
    ("missing_column", "column 'miles' of field 'miles' is missing"),
    ("wrong_type", "column 'power' of field 'power': 'strong' is not a number"),
    ("no_rows", "ref.csv: no data rows"),
    ("unknown_column", "columns not in the schema: ['note']"),
    ("unknown_extension", "ref.xlsx: unknown reference file type"),
    ("absent_file", "nope.csv: no such file"),
    ("bad_schema", "schema.yaml: fields[0].type: unknown field type 'decimal'"),
    ("absent_schema", "absent.yaml: cannot read config file"),
    ("model_dir", "holds a trained model (model.pt)"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          case: str, message: str) -> None:
    schema, reference, out_dir = SCHEMA, REFERENCE, tmp_path / "out"
    extra: list[str] = []
    if case == "missing_column":
        reference = bad_reference(tmp_path, "age,emergency_braking,braking_distance,power,group\n"
                                  "1,0,2,3,1\n")
    elif case == "wrong_type":
        reference = bad_reference(tmp_path, HEADER + "1,0,2,strong,4,1\n")
    elif case == "no_rows":
        reference = bad_reference(tmp_path, HEADER)
    elif case == "unknown_column":
        reference = bad_reference(tmp_path, HEADER.replace("\n", ",note\n") + "1,0,2,3,4,1,x\n")
        extra = ["--unknown-columns", "error"]
    elif case == "unknown_extension":
        reference = bad_reference(tmp_path, "x", "ref.xlsx")
    elif case == "absent_file":
        reference = tmp_path / "nope.csv"
    elif case == "bad_schema":
        schema = bad_reference(tmp_path, "fields: [{name: x, type: decimal}]\n", "schema.yaml")
    elif case == "absent_schema":
        schema = tmp_path / "absent.yaml"
    elif case == "model_dir":
        out_dir.mkdir()
        (out_dir / MODEL_FILE).write_bytes(b"weights")
    code, out, err = run(capsys, "--schema", str(schema), "--reference", str(reference),
                         "--output-dir", str(out_dir), "--progress", "none", *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("driftline profile: error: ")
    assert message in err and "Traceback" not in err
    assert not (out_dir / PROFILE_FILE).exists()


def test_reprofiling_replaces_the_previous_profile(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    schema = tmp_path / "schema.yaml"
    shutil.copy(SCHEMA, schema)
    for sample_size in ("100", "200"):
        code, _, _ = run(capsys, "--schema", str(schema), "--reference", str(REFERENCE),
                         "--output-dir", str(tmp_path / "a"), "--sample-size", sample_size)
        assert code == 0
    assert len(read_profile(tmp_path / "a").reference_samples["age"]) == 200


def test_bad_option_values_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["profile", "--schema", "s", "--reference", "r", "--sample-size", "0"])
    assert caught.value.code == 2 and "must be >= 1" in capsys.readouterr().err


def test_progress_bar_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--schema", str(SCHEMA), "--reference", str(REFERENCE),
                       "--output-dir", str(tmp_path), "--progress", "bar",
                       "--unknown-columns", "ignore")
    assert code == 0
    assert "\rreading: 1.50k rows" in err and "hashing" not in err
