"""`load_scorer`: from a `--reward-model` spec to a ready scorer, or the confidence fallback.

Resolves `none`, `logprob`, `auto`, `bundled`, a local directory or a Hub id; reads the kind
from `config.json`, checks that the reward model was made for the running policy
(`model.reward.made_for`: the bundled reward model is refused for a real Qwen policy), plans
device and precision (`model.reward.plan`) before fetching any weight, and turns every way a
reward model cannot be had here into a reason a person can read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model import hub
from model.errors import ConfigError, RewardModelError
from model.prompts import QWEN2_MATH, QWEN25_MATH
from judgements.ranking import ConfidenceScorer, RewardScorer
from model.reward.checkpoint import has_weights, read_kind
from model.reward.made_for import BUNDLED, HOW_TO_ADD, describe, made_for, mismatch, unrecorded
from model.reward.plan import CUDA_PRECISION, plan_precision
from model.reward.scorers import DEFAULT_BATCH_SIZE, scorer_class

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
# Where the bundled tiny reward model lives (written with `save_reward_model`).
BUNDLED_RM_DIR = REPO_ROOT / "assets" / "bundled-rm"

# The official reward models for each policy family, in the order `auto` tries them (only
# those already in the local Hugging Face cache).
FAMILY_REWARD_MODELS: Mapping[str, tuple[str, ...]] = {
    QWEN2_MATH: ("Qwen/Qwen2-Math-RM-72B", "Qwen/Qwen2.5-Math-RM-72B", "Qwen/Qwen2.5-Math-PRM-7B"),
    QWEN25_MATH: ("Qwen/Qwen2.5-Math-RM-72B", "Qwen/Qwen2.5-Math-PRM-7B"),
}

# Errors that mean "this checkpoint could not be loaded here" rather than a bug in this package.
_LOAD_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, RuntimeError, ImportError, KeyError)


def load_scorer(
    spec: str,
    *,
    device: str,
    precision: str,
    policy_family: str | None = None,
    max_memory_bytes: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    policy: str | None = None,
) -> tuple[RewardScorer, str | None]:
    """The scorer for `spec`, and a note: the reason when it fell back to confidence, or what
    to know about the reward model it loaded (else None).

    `spec`: `none` (no reward model: confidence, with a reason saying so), `logprob`
    (confidence, chosen), `auto` (the policy family's official RM if it is already in the HF
    cache and fits, else the bundled one, else confidence), `bundled`, a local directory, or
    a Hub id. The kind (ORM or PRM) comes from `config.json`'s `architectures`; any other
    architecture raises `RewardModelError`, as does a spec that is none of the above. Hub ids
    are fetched with huggingface_hub, from the local cache only when HF_HUB_OFFLINE is set;
    not found, not fitting (`max_memory_bytes` caps the memory, else a share of what is free),
    no bitsandbytes, or a failed load: the confidence fallback and a reason.
    `device`: auto | cpu | cuda; `precision`: the policy's (auto | nf4 | int8 | bf16 | fp32).
    `policy`: the running policy's family (`model.reward.made_for.policy_of`: `bundled`,
    `qwen2-math`, `qwen2.5-math`; None: unknown). A reward model made for another policy is
    refused (confidence, with the reason and how to add one that fits); `auto` uses the
    bundled reward model only for the bundled policy (or an unknown one).
    """
    if precision not in CUDA_PRECISION:
        raise ConfigError(f"precision must be one of {', '.join(CUDA_PRECISION)}; got {precision!r}.")
    request = _Request(device, precision, policy_family, max_memory_bytes, batch_size, policy)
    named = _NAMED_SPECS.get(spec.strip().lower())
    if named is not None:
        return named(request)
    return _load_spec(spec.strip(), request)


@dataclass(frozen=True)
class _Request:
    device: str
    precision: str
    policy_family: str | None
    max_memory_bytes: int | None
    batch_size: int
    policy: str | None = None


def _fallback(reason: str | None) -> tuple[RewardScorer, str | None]:
    if reason is None:
        return ConfidenceScorer(), None
    message = f"{reason} Ranking by the policy's confidence (mean token log-probability) instead."
    log.warning("%s", message)
    return ConfidenceScorer(), message


def _spec_none(request: _Request) -> tuple[RewardScorer, str | None]:
    return _fallback("No reward model is configured (--reward-model none).")


def _spec_logprob(request: _Request) -> tuple[RewardScorer, str | None]:
    return _fallback(None)


def _spec_bundled(request: _Request) -> tuple[RewardScorer, str | None]:
    if not (BUNDLED_RM_DIR / "config.json").is_file():
        return _fallback(f"The bundled reward model is missing ({BUNDLED_RM_DIR} has no config.json).")
    return _load_local(BUNDLED_RM_DIR, "bundled reward model", request)


def _spec_auto(request: _Request) -> tuple[RewardScorer, str | None]:
    """The policy family's official reward model if cached; the bundled one for the bundled
    policy; else confidence, saying so and how to add a reward model that fits."""
    candidates = FAMILY_REWARD_MODELS.get(request.policy_family or QWEN25_MATH, FAMILY_REWARD_MODELS[QWEN25_MATH])
    bundled = (BUNDLED_RM_DIR / "config.json").is_file() and request.policy in (None, BUNDLED)
    failed = None
    if request.policy != BUNDLED:
        for official in candidates:
            if hub.in_cache(official):
                scorer, reason = _load_hub(official, request, offline=True)
                if reason is None:
                    return scorer, None
                failed = failed or reason
    if bundled:
        return _load_local(BUNDLED_RM_DIR, "bundled reward model", request)
    if failed is not None:
        return ConfidenceScorer(), failed
    if request.policy is not None:
        return _fallback(
            f"No reward model made for {describe(request.policy)} policies is here: {candidates[0]} is not in the "
            "local Hugging Face cache, and the bundled reward model knows only the bundled tiny model's "
            f"arithmetic, so RM@N would mean nothing. {HOW_TO_ADD}"
        )
    return _fallback(
        f"No reward model is configured: {candidates[0]} is not in the local Hugging Face cache and "
        "there is no bundled reward model (give one with --reward-model)."
    )


_NAMED_SPECS: Mapping[str, Callable[[_Request], tuple[RewardScorer, str | None]]] = {
    "none": _spec_none,
    "": _spec_none,
    "logprob": _spec_logprob,
    "bundled": _spec_bundled,
    "auto": _spec_auto,
}


def _load_spec(spec: str, request: _Request) -> tuple[RewardScorer, str | None]:
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_local(path, path.resolve().name, request)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        return _fallback(f"Reward model {spec!r} was not found: no such directory.")
    if hub.HUB_ID.match(spec):
        return _load_hub(spec, request, offline=hub.offline())
    raise RewardModelError(
        f"Unknown reward model {spec!r}: use none, logprob, auto, bundled, a local directory or a "
        "Hugging Face Hub id such as Qwen/Qwen2.5-Math-RM-72B."
    )


def _load_local(path: Path, name: str, request: _Request, repo_id: str | None = None) -> tuple[RewardScorer, str | None]:
    config_file = path / "config.json"
    if not config_file.is_file():
        return _fallback(f"Reward model {name} was not found: {path} has no config.json.")
    kind, raw = read_kind(config_file)
    families = made_for(raw, path, repo_id, bundled_dir=BUNDLED_RM_DIR)
    refused = mismatch(name, families, request.policy)
    if refused is not None:
        return _fallback(f"{refused} {HOW_TO_ADD if request.policy != BUNDLED else ''}".strip())
    if not has_weights(path):
        return _fallback(f"Reward model {name} has no safetensors weights in {path}.")
    scorer, reason = _load_checked(path, name, kind, raw, request)
    return scorer, reason if reason is not None or families else unrecorded(name, request.policy)


def _load_checked(
    path: Path, name: str, kind: str, raw: dict[str, Any], request: _Request
) -> tuple[RewardScorer, str | None]:
    """Choose device and precision, check the memory, then load; failures fall back."""
    device = _resolve_device(request.device)
    if device is None:
        return _fallback(f"Reward model {name} was asked for on CUDA, but no CUDA GPU is visible.")
    precision, reason = plan_precision(name, raw, device, request.precision, request.max_memory_bytes, kind)
    if precision is None:
        return _fallback(reason)
    cls = scorer_class(kind)
    try:
        scorer = cls.load(path, name=name, device=device, precision=precision, batch_size=request.batch_size)
    except RewardModelError as exc:
        return _fallback(f"Reward model {name} cannot be used: {exc}")
    except (*_LOAD_ERRORS, _safetensors_error()) as exc:
        return _fallback(f"Reward model {name} failed to load ({type(exc).__name__}: {_first_line(exc)}).")
    log.info("reward model %s (%s) loaded on %s in %s", name, kind, device, precision)
    return scorer, None


def _load_hub(repo_id: str, request: _Request, *, offline: bool) -> tuple[RewardScorer, str | None]:
    """Config first (kind and memory are known before any weight is fetched), then the rest."""
    name = repo_id.split("/")[-1]
    where = "the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "the Hugging Face Hub"
    try:
        config_file = Path(hub.fetch_file(repo_id, "config.json", local_files_only=offline))
    except (OSError, ValueError) as exc:
        return _fallback(f"Reward model {repo_id} could not be had from {where} ({_first_line(exc)}).")
    kind, raw = read_kind(config_file)
    refused = mismatch(name, made_for(raw, repo_id=repo_id), request.policy)
    if refused is not None:  # before fetching any weight
        return _fallback(refused)
    device = _resolve_device(request.device)
    if device is None:
        return _fallback(f"Reward model {name} was asked for on CUDA, but no CUDA GPU is visible.")
    precision, reason = plan_precision(name, raw, device, request.precision, request.max_memory_bytes, kind)
    if precision is None:
        return _fallback(reason)
    try:
        path = Path(hub.fetch_snapshot(repo_id, local_files_only=offline))
    except (OSError, ValueError) as exc:
        return _fallback(f"Reward model {repo_id} could not be had from {where} ({_first_line(exc)}).")
    return _load_local(path, name, request, repo_id)


def _resolve_device(requested: str) -> str | None:
    """`auto` -> cuda when visible, else cpu; `cuda` without a GPU -> None (the caller falls back)."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda; got {requested!r}.")
    if requested == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    return "cpu" if requested == "auto" else None


def _safetensors_error() -> type[BaseException]:
    from safetensors import SafetensorError

    return SafetensorError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__

