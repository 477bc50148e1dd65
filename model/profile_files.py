"""The profile's files in an artifacts directory, without torch: ``reference_profile.json``
(read by the executor through :func:`model.artifacts.load_artifacts`) and, for a profile built
by ``driftline profile``, a copy of its schema, ``event_schema.yaml`` (its SHA-256 is the
profile's ``schema_sha256``), and the files the profile lists with their SHA-256
(:meth:`model.profile.ReferenceProfile.files`: reference samples of vector fields, fitted
reducers).

Example
-------
>>> import tempfile
>>> from driftline.dataloader.insurance import DATA_DIR
>>> from driftline.model.profile_builder import build_profile
>>> profile, _ = build_profile(DATA_DIR / "schema.yaml", DATA_DIR / "reference.csv.gz")
>>> with tempfile.TemporaryDirectory() as directory:
...     paths = write_profile(directory, profile, DATA_DIR / "schema.yaml")
...     read_profile(directory).n_reference, [p.name for p in paths]
(1500, ['reference_profile.json', 'event_schema.yaml'])
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from driftline.model.profile import ReferenceProfile

__all__ = ["MODEL_FILE", "PROFILE_FILE", "SCHEMA_FILE", "read_profile", "write_profile"]

MODEL_FILE = "model.pt"
PROFILE_FILE = "reference_profile.json"
SCHEMA_FILE = "event_schema.yaml"


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_profile(directory: str | Path, profile: ReferenceProfile,
                  schema_path: str | Path | None = None,
                  files: Mapping[str, bytes] | None = None) -> list[Path]:
    """Write ``profile`` (and a copy of the schema file, and the ``files`` it lists) into
    ``directory``; return the paths.

    Raises ``ValueError`` if the copied schema is not the one the profile was built from, or if
    ``files`` are not exactly the files the profile lists, with the bytes it hashed.
    """
    directory = Path(directory)
    files = dict(files or {})
    listed = profile.files()
    if set(files) != set(listed):
        missing, extra = sorted(set(listed) - set(files)), sorted(set(files) - set(listed))
        raise ValueError(f"the profile lists files {sorted(listed)}, given {sorted(files)} ("
                         + (f"missing {missing[0]!r}" if missing else f"unlisted {extra[0]!r}")
                         + ")")
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != listed[name]:
            raise ValueError(f"{name}: its bytes do not hash to the profile's SHA-256")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in sorted(files.items()):
        _write_atomically(directory / name, data)
        written.append(directory / name)
    profile_path = directory / PROFILE_FILE
    _write_atomically(profile_path, (profile.to_json() + "\n").encode("utf-8"))
    written.append(profile_path)
    if schema_path is not None:
        schema_bytes = Path(schema_path).read_bytes()
        if profile.schema_sha256 and hashlib.sha256(schema_bytes).hexdigest() != (
                profile.schema_sha256):
            raise ValueError(f"{schema_path}: changed since the profile was built from it")
        _write_atomically(directory / SCHEMA_FILE, schema_bytes)
        written.append(directory / SCHEMA_FILE)
    return written


def read_profile(directory: str | Path) -> ReferenceProfile:
    """The profile in ``directory``; ``ValueError`` names the file and the problem."""
    path = Path(directory) / PROFILE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return ReferenceProfile.from_json(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: {exc}") from None
