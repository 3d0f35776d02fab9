"""The sandbox for reasoning with Python, opened at start-up: which layers are active, and
whether the app offers the mode at all.

`open_sandbox(config)` starts `sandbox.Sandbox` (the session log and the browser key file named
private), writes one log line per layer (a missing one as a warning, with what it leaves open),
and keeps it only when `confined_enough()`: a public demo never runs a model's code unconfined.
`CodeOffer` is what the page shows: whether the switch works, and a line saying why (the layers
in force, or what is missing). Nothing here computes a judgement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sandbox import Policy, Sandbox, SandboxError
from settings import AppConfig
from storage.session_keys import browser_key_path

log = logging.getLogger(__name__)

IN_WORDS = "in words"
WITH_PYTHON = "with Python"
REASONING_CHOICES = (IN_WORDS, WITH_PYTHON)


def reasoning_choice(tir: bool) -> str:
    return WITH_PYTHON if tir else IN_WORDS


def tir_of(choice: object) -> bool:
    """The switch's value (or an API client's: the words, or true/false) as `SamplingParams.tir`."""
    if isinstance(choice, bool):
        return choice
    return isinstance(choice, str) and choice.strip().lower() in (WITH_PYTHON.lower(), "python", "tir", "true")


@dataclass(frozen=True)
class CodeOffer:
    """Whether reasoning with Python is offered here, and the page's line about it."""

    offered: bool
    note: str
    layers: tuple[str, ...] = ()  # the active layers' names


def _private_paths(config: AppConfig) -> tuple[str, ...]:
    paths = [str(browser_key_path(config.db_url))]
    if config.db_url.startswith("sqlite:///"):
        paths.append(config.db_url.removeprefix("sqlite:///"))
    return tuple(paths)


def open_sandbox(config: AppConfig) -> tuple[Sandbox | None, CodeOffer]:
    """The started sandbox (None when reasoning with Python is not offered) and the offer."""
    if config.tir == "off":
        return None, CodeOffer(False, "Reasoning with Python is switched off on this server (--tir off).")
    box = Sandbox(Policy(timeout_s=config.code_timeout, private_paths=_private_paths(config)))
    try:
        layers = box.start()
    except (SandboxError, OSError, ValueError) as exc:
        box.close()
        log.error("Reasoning with Python is off: the sandbox did not start (%s: %s)", type(exc).__name__, exc)
        return None, CodeOffer(False, f"Reasoning with Python is off: the code sandbox did not start ({exc}).")
    for layer in layers:
        if layer.active:
            log.info("sandbox layer %s", layer.line())
        else:
            log.warning("sandbox layer %s", layer.line())
    active = tuple(layer.name for layer in layers if layer.active)
    if not box.confined_enough():
        missing = [layer.name for layer in layers if not layer.active and layer.name in box.policy.required_layers]
        box.close()
        reason = f"the sandbox lacks {', '.join(missing)} on this machine, and model-written code never runs unconfined"
        log.warning("Reasoning with Python is off: %s", reason)
        return None, CodeOffer(False, f"Reasoning with Python is off: {reason}.", active)
    log.info("Reasoning with Python is offered: %d of %d sandbox layers active", len(active), len(layers))
    note = (f"The model's code runs in a sandbox ({len(active)} of {len(layers)} layers: "
            f"{', '.join(active)}), at most {config.code_timeout:g} s a run.")
    return box, CodeOffer(True, note, active)


__all__ = ["IN_WORDS", "REASONING_CHOICES", "WITH_PYTHON", "CodeOffer", "open_sandbox", "reasoning_choice", "tir_of"]
