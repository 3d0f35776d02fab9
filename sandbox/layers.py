"""The confinement layers: what each stops, what its absence leaves open, and which are required.

A child reports, layer by layer, whether it applied it and whether a check of its effect passed
(`probe.py`); this module turns that report into `Layer` records for the app to show at start,
and decides with `confined_enough` whether model-written code may run at all.

The decision: a run needs a fresh process, rlimits, a scrubbed environment, the seccomp filter
and Landlock's file rules. Without seccomp the code could open sockets, start programs and
signal the app; without Landlock it could read the session log, the browser key file and the
app's source, which on a public demo belong to other people. The other layers (Landlock's TCP
and signal rules, dropped capabilities) are second locks on doors seccomp already shuts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """One layer on this machine: active or not, what it stops, what is open without it."""

    name: str
    active: bool
    stops: str
    open_without: str
    detail: str = ""

    def line(self) -> str:
        """One plain line for a start-up log."""
        state = "active" if self.active else "MISSING"
        text = f"{self.name}: {state} ({self.detail})" if self.detail else f"{self.name}: {state}"
        return text + (f" -- stops {self.stops}" if self.active else f" -- left open: {self.open_without}")


# name -> (what it stops, what is left open when it is missing). Order is the order applied.
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "fresh_process": (
        "state leaking between runs; a run outliving its wall-clock limit (the zygote kills it)",
        "runs would share memory, and nothing would stop an endless loop",
    ),
    "environment": (
        "reading keys and tokens from the environment; files left behind (empty folder per run, removed after)",
        "API keys, tokens and passwords in the app's environment would be readable",
    ),
    "rlimits": (
        "burning CPU (RLIMIT_CPU), memory (RLIMIT_AS), disk (RLIMIT_FSIZE), file handles (RLIMIT_NOFILE)",
        "one run could take all memory or CPU of the machine",
    ),
    "capabilities": (
        "root's powers (CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_SYS_RESOURCE, CAP_KILL, ...) in the child",
        "a child running as root keeps root's powers where other layers are missing",
    ),
    "landlock_fs": (
        "reading anything but the Python installation and shared libraries (the source tree, the "
        "session log, key files, /etc/passwd, /proc); writing outside the run's temporary folder",
        "every file the app's user can read, the session log and the browser key file included",
    ),
    "landlock_tcp": (
        "TCP bind and connect (a second lock behind seccomp's socket refusal)",
        "nothing while seccomp is active; seccomp alone refuses sockets",
    ),
    "landlock_signal": (
        "signals to any process outside the run (a second lock behind seccomp's kill refusal)",
        "nothing while seccomp is active; seccomp alone refuses kill",
    ),
    "seccomp": (
        "network sockets (every family), exec, fork, signals to other processes, ptrace, mounts, "
        "namespaces, raising its own limits, io_uring, bpf",
        "the code could open network connections, start programs and kill the app",
    ),
    "output_cap": (
        "flooding the app with output (stdout past the cap stops the run)",
        "printing gigabytes would have to be read by the app",
    ),
}

REQUIRED_LAYERS: frozenset[str] = frozenset({"fresh_process", "environment", "rlimits", "seccomp", "landlock_fs", "output_cap"})


def from_report(report: dict[str, tuple[bool, str]]) -> list[Layer]:
    """Layer records from a child's {name: (active, detail)} report; unknown layers are missing."""
    out = []
    for name, (stops, open_without) in DESCRIPTIONS.items():
        active, detail = report.get(name, (False, "not reported"))
        out.append(Layer(name=name, active=bool(active), stops=stops, open_without=open_without, detail=detail))
    return out


def missing(layers: list[Layer], required: frozenset[str] = REQUIRED_LAYERS) -> list[str]:
    """Names of required layers that are not active."""
    active = {layer.name for layer in layers if layer.active}
    return sorted(required - active)


def confined_enough(layers: list[Layer], required: frozenset[str] = REQUIRED_LAYERS) -> bool:
    """Whether model-written code may run here: every required layer is active and checked."""
    return not missing(layers, required)
