"""A confined place to run model-written Python (tool-integrated reasoning), apart from the app.

Imports nothing of the app. `Sandbox` starts a preloaded zygote process once; each `run` forks a
fresh child that drops into every confinement layer (rlimits, scrubbed environment, empty
folder, no capabilities, Landlock, seccomp) before it reads the code. `layers()` says which
layers this machine enforces and `confined_enough()` whether code may run at all. The layers,
their limits and measured latency are in docs/sandbox.md; `python -m sandbox FILE` runs a file
as model code would run.
"""

from sandbox.client import Sandbox
from sandbox.layers import REQUIRED_LAYERS, Layer, confined_enough
from sandbox.policy import Policy
from sandbox.result import Limit, RunResult, SandboxError

__all__ = ["REQUIRED_LAYERS", "Layer", "Limit", "Policy", "RunResult", "Sandbox", "SandboxError", "confined_enough"]
