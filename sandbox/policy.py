"""What one run may use: time, memory, output, files, environment; one frozen object.

`Policy` holds the numbers (validated on construction); `scrubbed_env()` is the whole environment
the zygote and so every run starts from; `readable_paths()` lists what Landlock lets a run read:
the Python installation and the system's shared libraries, never the app's source tree (even
when the app's virtual environment lives inside it), never a path the app names as private.
"""

from __future__ import annotations

import json
import math
import os
import site
import sys
import sysconfig
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sandbox.layers import DESCRIPTIONS, REQUIRED_LAYERS

# Where the app lives: the folder holding this package. Always private.
APP_ROOT = Path(__file__).resolve().parent.parent

# Shared libraries a lazily imported extension module may still load after the fork.
SYSTEM_LIB_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
SYSTEM_FILES = ("/etc/ld.so.cache", "/dev/null", "/dev/urandom")


@dataclass(frozen=True)
class Policy:
    """Limits for every run. Sizes in MiB/bytes, times in seconds."""

    timeout_s: float = 5.0  # wall clock per run (Qwen's executor: 5 s); CPU limit is the same
    memory_mb: int = 1024  # address space of the whole child, the preloaded libraries' ~180 MiB included
    max_output_bytes: int = 1_000_000  # stdout kept; past it the run is stopped
    max_file_mb: int = 16  # largest file the code may write in its temporary folder
    max_open_files: int = 64
    max_code_bytes: int = 1_000_000  # all cells of one run together
    private_paths: tuple[str, ...] = field(default_factory=tuple)  # e.g. the session log, the key file
    # Layers without which a child refuses to run the code. A public demo keeps the default.
    required_layers: tuple[str, ...] = tuple(sorted(REQUIRED_LAYERS))

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 600:
            raise ValueError(f"timeout_s must be in (0, 600], got {self.timeout_s}")
        if self.memory_mb < 256:
            raise ValueError(f"memory_mb must be at least 256 (numpy and sympy are preloaded), got {self.memory_mb}")
        for name in ("max_output_bytes", "max_file_mb", "max_open_files", "max_code_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        unknown = sorted(set(self.required_layers) - set(DESCRIPTIONS))
        if unknown:
            raise ValueError(f"unknown layers in required_layers: {', '.join(unknown)}")
        if self.max_open_files < 8:
            raise ValueError("max_open_files must be at least 8 (the child holds 5 itself)")

    def cpu_limit_s(self, timeout_s: float) -> int:
        """RLIMIT_CPU for a run with this wall-clock limit: the next whole second."""
        return max(1, math.ceil(timeout_s))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Policy":
        data = json.loads(text)
        data["private_paths"] = tuple(data.get("private_paths", ()))
        data["required_layers"] = tuple(data.get("required_layers", sorted(REQUIRED_LAYERS)))
        return cls(**data)


def scrubbed_env(tmp_root: str) -> dict[str, str]:
    """The only environment variables the zygote (and so every run) has: no keys, no tokens."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": tmp_root,  # each run points HOME and TMPDIR at its own empty folder
        "TMPDIR": tmp_root,
        "PYTHONHASHSEED": "0",  # the same set and dict order on every run and restart
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        # One thread per BLAS: set before numpy is imported, so no thread pool exists to fork.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
    }


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def python_dirs() -> list[Path]:
    """The installation's folders: standard library, extension modules, site-packages."""
    found: list[Path] = []
    names = [sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    names += list(site.getsitepackages()) + [p for p in sys.path if p]
    for name in names:
        if name and os.path.isdir(name):
            path = Path(name).resolve()
            if path not in found:
                found.append(path)
    return found


def readable_paths(private: tuple[str, ...] = ()) -> list[str]:
    """Folders and files a run may read. Drops any that would expose the app or a private path.

    A candidate is dropped when it is the app's root or contains it, or contains a private path.
    Inside the app's root only the virtual environment's own folders (under sys.prefix) survive.
    """
    hidden = [APP_ROOT] + [Path(p).resolve() for p in private]
    prefix = Path(sys.prefix).resolve()
    keep: list[str] = []
    for path in python_dirs() + [Path(p) for p in SYSTEM_LIB_DIRS + SYSTEM_FILES]:
        if not path.exists():
            continue
        path = path.resolve()
        if any(_inside(h, path) for h in hidden):
            continue
        if _inside(path, APP_ROOT) and not _inside(path, prefix):
            continue
        if str(path) not in keep:
            keep.append(str(path))
    return keep
