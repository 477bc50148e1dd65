"""Build scikit-multiflow 0.5.3 from its PyPI sdist and install it into a venv.

scikit-multiflow's last release ships only an sdist whose ``setup.py`` needs ``numpy.distutils``,
so ``pip install scikit-multiflow`` fails on Python 3.11. This installer builds it anyway:

1. a throw-away build venv gets ``setuptools<60`` (``numpy.distutils`` breaks with newer ones),
   ``wheel``, Cython 3 and the target venv's own numpy version;
2. that venv's pip downloads the sdist without build isolation (``setup.py`` imports numpy at
   metadata time) and its sha256 is checked against :data:`SDIST_SHA256`;
3. :data:`SOURCE_PATCHES` are applied to the unpacked sources, and the Cython C files (which
   include ``longintrepr.h``, gone in CPython 3.11) are regenerated;
4. the wheel is built without build isolation, with the numpy 1 C-API names that
   ``nearestNeighbor.cpp`` uses defined as their numpy 2 equivalents (:data:`NUMPY2_CFLAGS`);
5. the runtime requirements (:data:`RUNTIME_REQUIREMENTS`, the same list as driftline's
   ``skmultiflow`` extra) and then the wheel (``--no-deps``) are installed into the target;
6. the target imports ``skmultiflow.drift_detection`` to check the result.

Nothing of scikit-multiflow is kept in this repository: the patches are applied at build time.
Run ``python -m driftline.evaluation.install_skmultiflow`` (or ``make skmultiflow``); it does
nothing when the target already imports scikit-multiflow 0.5.3 (``--force`` rebuilds).

Example
-------
>>> from driftline.evaluation.install_skmultiflow import SourcePatch
>>> SourcePatch("kswin.py", 'mode="exact"', 'method="exact"', "scipy renamed it").apply_to(
...     'ks_2samp(a, b, mode="exact")')
'ks_2samp(a, b, method="exact")'
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NUMPY2_CFLAGS",
    "RUNTIME_REQUIREMENTS",
    "SDIST_SHA256",
    "SDIST_VERSION",
    "SOURCE_PATCHES",
    "BuildError",
    "SourcePatch",
    "apply_source_patches",
    "install_skmultiflow",
    "main",
]

SDIST_VERSION = "0.5.3"
#: sha256 of scikit-multiflow-0.5.3.tar.gz on PyPI: the patches below are written for it
SDIST_SHA256 = "a720e0d7ad1af3cf1ea7ae2c0d371ec5a924a9db2aa2ba0be8d0ad99daadcfcf"

#: what ``import skmultiflow`` needs at run time (pyproject's ``skmultiflow`` extra, kept equal
#: by tests/evaluation/test_install_skmultiflow.py)
RUNTIME_REQUIREMENTS = (
    "scikit-learn>=1.3",
    "pandas>=2.0",
    "scipy>=1.11",
    "matplotlib>=3.8",
    "sortedcontainers>=2.4",
)

#: build-venv requirements besides numpy (pinned to the target's version at build time)
BUILD_REQUIREMENTS = ("setuptools<60", "wheel", "cython>=3,<4")

#: numpy 2 dropped the numpy 1 names ``nearestNeighbor.cpp`` uses; same values, new spelling
NUMPY2_CFLAGS = "-DPyArray_DOUBLE=NPY_DOUBLE -DPyArray_INT=NPY_INT"

#: Cython sources whose shipped C files predate CPython 3.11
CYTHON_SOURCES = (
    "src/skmultiflow/metrics/_confusion_matrix.pyx",
    "src/skmultiflow/metrics/_classification_performance_evaluator.pyx",
)


class BuildError(RuntimeError):
    """A build step failed; the message says which and how to fix it."""


@dataclass(frozen=True)
class SourcePatch:
    """Replace ``old`` by ``new`` in ``path`` (relative to the sdist root), exactly ``count`` times.

    A count mismatch raises :class:`BuildError`: the sdist is not the one the patch was written
    for, and a silently skipped patch would build a package that fails later.
    """

    path: str
    old: str
    new: str
    reason: str
    count: int = 1

    def apply_to(self, text: str) -> str:
        found = text.count(self.old)
        if found != self.count:
            raise BuildError(f"patch of {self.path} ({self.reason}): expected {self.count} "
                             f"occurrence(s) of {self.old!r}, found {found}")
        return text.replace(self.old, self.new)


#: the source changes a current stack (numpy 2, scikit-learn >= 1.4, scipy >= 1.15) needs for
#: ``import skmultiflow`` and its drift detectors; the rest of the library is not checked
SOURCE_PATCHES = (
    SourcePatch("src/skmultiflow/metrics/_classification_performance_evaluator.pyx",
                "DTYPE = np.float\n", "DTYPE = np.float64\n",
                "numpy 2 removed the np.float alias; read at import time"),
    SourcePatch("src/skmultiflow/core/pipeline.py",
                "from sklearn.utils import tosequence\n",
                "\n\ndef tosequence(steps):\n"
                "    # scikit-learn removed its helper of this name\n"
                "    return steps if isinstance(steps, (list, tuple)) else list(steps)\n",
                "scikit-learn removed sklearn.utils.tosequence; imported at import time"),
    SourcePatch("src/skmultiflow/drift_detection/kswin.py", 'mode="exact")', 'method="exact")',
                "scipy renamed ks_2samp's mode argument to method"),
)


def apply_source_patches(root: Path, patches: tuple[SourcePatch, ...] = SOURCE_PATCHES) -> None:
    """Apply ``patches`` to the unpacked sdist at ``root`` (all checked before any is written)."""
    patched: dict[Path, str] = {}
    for patch in patches:
        path = root / patch.path
        if path not in patched:
            if not path.is_file():
                raise BuildError(f"patch ({patch.reason}): {patch.path} is not in the sdist")
            patched[path] = path.read_text(encoding="utf-8")
        patched[path] = patch.apply_to(patched[path])
    for path, text in patched.items():
        path.write_text(text, encoding="utf-8")


def _run(cmd: list[str], log: Path, step: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> str:
    """Run ``cmd``, appending its output to ``log``; raise :class:`BuildError` on failure."""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env, cwd=cwd, check=False)
        out.write(done.stdout)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-25:])
        raise BuildError(f"{step} failed (exit {done.returncode}); full log: {log}\n{tail}")
    return done.stdout


def _installed_version(python: str) -> str | None:
    """The scikit-multiflow version ``python`` imports (with its drift detectors), or None."""
    done = subprocess.run(
        [python, "-c", "import skmultiflow.drift_detection, skmultiflow; "
                       "print(skmultiflow.__version__)"],
        capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _check_toolchain() -> None:
    missing = [c for c in ("cc", "c++") if shutil.which(c) is None]
    if missing:
        raise BuildError(f"no {' / '.join(missing)} compiler on PATH: scikit-multiflow has C and "
                         "C++ extensions (Debian: apt-get install build-essential python3-dev)")


def _verified_sdist(directory: Path) -> Path:
    sdists = sorted(directory.glob("scikit-multiflow-*.tar.gz"))
    if len(sdists) != 1:
        raise BuildError(f"expected one scikit-multiflow sdist in {directory}, found {sdists}")
    digest = hashlib.sha256(sdists[0].read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise BuildError(f"{sdists[0].name}: sha256 {digest} is not the expected {SDIST_SHA256}")
    return sdists[0]


def install_skmultiflow(python: str = sys.executable, *, force: bool = False,
                        build_dir: Path | None = None) -> float:
    """Build and install scikit-multiflow into the venv of ``python``; return the seconds taken.

    ``build_dir`` keeps the build venv, sources and log there (default: a temporary directory,
    removed afterwards). Raises :class:`BuildError` naming the failed step.
    """
    started = time.perf_counter()
    current = _installed_version(python)
    if current == SDIST_VERSION and not force:
        print(f"scikit-multiflow {current} already imports in {python}; nothing to do "
              "(--force rebuilds)")
        return time.perf_counter() - started
    _check_toolchain()
    numpy_version = subprocess.run([python, "-c", "import numpy; print(numpy.__version__)"],
                                   capture_output=True, text=True, check=False)
    if numpy_version.returncode != 0:
        raise BuildError(f"{python} cannot import numpy; install driftline into it first")
    with tempfile.TemporaryDirectory(prefix="skmultiflow-build-") as tmp:
        work = Path(build_dir) if build_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        log = work / "build.log"
        venv_python = str(work / "build-venv" / "bin" / "python")

        def step(name: str, cmd: list[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
            t0 = time.perf_counter()
            _run(cmd, log, name, env=env, cwd=cwd)
            print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)

        print(f"building scikit-multiflow {SDIST_VERSION} for {python} in {work}", flush=True)
        step("build venv", [python, "-m", "venv", "--clear", str(work / "build-venv")])
        step("build requirements", [venv_python, "-m", "pip", "install", "-q",
                                    "--disable-pip-version-check", *BUILD_REQUIREMENTS,
                                    f"numpy=={numpy_version.stdout.strip()}"])
        step("download sdist", [venv_python, "-m", "pip", "download", "-q",
                                "--disable-pip-version-check", "--no-deps",
                                "--no-build-isolation", "--no-binary", ":all:",
                                f"scikit-multiflow=={SDIST_VERSION}", "-d", str(work / "sdist")])
        with tarfile.open(_verified_sdist(work / "sdist")) as archive:
            archive.extractall(work / "src", filter="data")
        root = work / "src" / f"scikit-multiflow-{SDIST_VERSION}"
        apply_source_patches(root)
        cython = str(work / "build-venv" / "bin" / "cython")
        for pyx in CYTHON_SOURCES:
            step(f"cythonize {Path(pyx).name}",
                 [cython, "-3", pyx, "-o", str(Path(pyx).with_suffix(".c"))], cwd=root)
        env = {**os.environ, "CFLAGS": NUMPY2_CFLAGS, "CXXFLAGS": NUMPY2_CFLAGS}
        step("build wheel", [venv_python, "-m", "pip", "wheel", "--no-build-isolation",
                             "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
                             "-w", str(work / "wheel"), str(root)], env=env)
        wheel = next((work / "wheel").glob("scikit_multiflow-*.whl"))
        step("runtime requirements", [python, "-m", "pip", "install", "-q",
                                      "--disable-pip-version-check", *RUNTIME_REQUIREMENTS])
        step("install wheel", [python, "-m", "pip", "install", "-q", "--force-reinstall",
                               "--no-deps", "--disable-pip-version-check", str(wheel)])
    installed = _installed_version(python)
    if installed != SDIST_VERSION:
        raise BuildError(f"installed, but {python} does not import skmultiflow.drift_detection "
                         f"(got version {installed!r})")
    seconds = time.perf_counter() - started
    print(f"scikit-multiflow {installed} installed in {seconds:.0f} s")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Command line entry point. Exit codes: 0 installed (or already there), 1 build failed."""
    parser = argparse.ArgumentParser(prog="python -m driftline.evaluation.install_skmultiflow",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the target venv (default: this one)")
    parser.add_argument("--force", action="store_true", help="rebuild even when installed")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="keep the build venv, sources and build.log here")
    args = parser.parse_args(argv)
    try:
        install_skmultiflow(args.python, force=args.force, build_dir=args.build_dir)
    except BuildError as exc:
        print(f"install_skmultiflow: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
