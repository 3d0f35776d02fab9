"""Loading a Qwen2-Math-Instruct checkpoint: from the Hub, a local directory, or the bundled model.

Decides device and precision, refuses what cannot work with a message a person can act on,
and reports what was loaded. Weights load into transformers' own class for the checkpoint's
`model_type`; downloaded code is never run. Hub access is `model.hub`, sizes `model.memory`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from model import hub
from model.backends.protocol import format_parameters
from model.params import BUNDLED_MODEL, resolve_model_alias, EngineSettings
from model.errors import (
    ConfigError,
    ModelError,
    ModelNotFoundError,
    ModelTooLargeError,
    NotACausalLMError,
    OutOfMemoryError,
    QuantizationUnavailableError,
)
from model.hub import HUB_ID
from model.memory import free_bytes, qwen2_parameter_split
from model.prompts import detect_family, stop_token_ids

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DIR = REPO_ROOT / "assets" / "bundled-model"

QUANTIZE_FROM_PARAMETERS = 5_000_000_000
# Bytes per parameter as loaded (NF4 keeps norms/embeddings in bf16; measured overhead ~10%).
BYTES_PER_PARAMETER = {"nf4": 0.56, "int8": 1.1, "bf16": 2.0, "fp32": 4.0}
# Room kept free beyond the weights: activations, the KV cache of N samples, the CUDA context.
HEADROOM_BYTES = 2 * 1024**3

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, for the status line and the log."""

    name: str
    source: str  # "hub" | "local" | "bundled"
    path: str
    family: str
    parameters: int
    precision: str
    device: str
    memory_bytes: int
    context_length: int
    fallback_reason: str | None = None

    def describe(self) -> str:
        gib = self.memory_bytes / 1024**3
        size = f"{gib:.2f} GiB" if gib >= 0.1 else f"{self.memory_bytes / 1024**2:.1f} MiB"
        return f"{self.name} · {format_parameters(self.parameters)} params · {self.precision} · {self.device} · {size}"


@dataclass
class LoadedModel:
    """A model ready for the local backend: weights on their device, tokenizer, stop ids, facts."""

    model: Any
    tokenizer: Any
    info: ModelInfo
    stop_ids: list[int]


def choose_device(requested: str) -> str:
    """`auto` -> cuda when a GPU is visible, else cpu; `cuda` without a GPU is an error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is visible to PyTorch. Use --device cpu.")
    return requested


def choose_precision(requested: str, device: str, parameters: int) -> str:
    """The precision to load with. `auto`: on CUDA nf4 from `QUANTIZE_FROM_PARAMETERS` up,
    bf16 below; fp32 on the CPU."""
    if requested == "auto":
        if device == "cuda":
            return "nf4" if parameters >= QUANTIZE_FROM_PARAMETERS else "bf16"
        return "fp32"
    if requested in ("nf4", "int8") and device != "cuda":
        raise QuantizationUnavailableError(
            f"Precision {requested} uses bitsandbytes kernels that need a CUDA GPU; on the CPU "
            "choose --precision fp32 (or bf16 to halve the memory)."
        )
    return requested


def estimate_parameters(config: Any) -> int:
    """Parameter count of a Qwen2-style decoder from its config, before loading any weight."""
    linear, other = qwen2_parameter_split(config)
    output_layer = 0 if getattr(config, "tie_word_embeddings", False) else config.vocab_size * config.hidden_size
    return linear + other + output_layer


def estimate_bytes(parameters: int, precision: str) -> int:
    return int(parameters * BYTES_PER_PARAMETER[precision])


def resolve_source(spec: str) -> tuple[str, str]:
    """(source, location): `bundled`, an existing local directory, or a Hub id."""
    spec = resolve_model_alias(spec)
    if spec == BUNDLED_MODEL:
        return "bundled", str(BUNDLED_DIR)
    path = Path(spec).expanduser()
    if path.is_dir():
        return "local", str(path.resolve())
    if spec.startswith((".", "/", "~")) or not HUB_ID.match(spec):
        raise ModelNotFoundError(
            f"{spec!r} is neither an existing local directory nor a Hugging Face Hub id (owner/name). "
            "Give --model a directory holding config.json and the weights, a Hub id such as "
            "Qwen/Qwen2-Math-1.5B-Instruct, a size (1.5b, 7b, 72b), or 'bundled'."
        )
    return "hub", spec


def fetch_from_hub(repo_id: str) -> str:
    """Local path of a Hub checkpoint: the HF cache first, then a download unless offline."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return hub.fetch_snapshot(repo_id, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    reason = "HF_HUB_OFFLINE is set"
    if not hub.offline():
        try:
            log.info("downloading %s from the Hugging Face Hub", repo_id)
            return hub.fetch_snapshot(repo_id, local_files_only=False)
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    name = repo_id.split("/")[-1].lower()
    raise ModelNotFoundError(
        f"Could not get {repo_id} from the Hugging Face Hub ({reason}) and it is not in the local "
        f"cache. On a machine with internet run `hf download {repo_id} --local-dir ./{name}`, copy "
        f"the folder here and start with `--model ./{name}`; or use `--offline` for the bundled model."
    )


def read_config(path: str) -> Any:
    """The checkpoint's config, checked to be a causal LM that transformers implements natively."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        raise NotACausalLMError(f"{path} has no config.json: it is not a Hugging Face model directory.")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NotACausalLMError(f"{config_file} is not readable JSON: {exc}") from None
    model_type = raw.get("model_type")
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise NotACausalLMError(
            f"{path} holds a {model_type!r} model, which is not a causal language model this app can "
            "load without running downloaded code. Use a Qwen2-Math-Instruct checkpoint."
        )
    architectures = raw.get("architectures") or []
    if architectures and not any(a.endswith("ForCausalLM") for a in architectures):
        raise NotACausalLMError(
            f"{path} is a {', '.join(architectures)}, not a causal language model (a reward model? "
            "give it to --reward-model instead)."
        )
    if not any((Path(path) / name).is_file() for name in WEIGHT_FILES):
        raise NotACausalLMError(f"{path} has a config but no weights (model.safetensors).")
    return AutoConfig.from_pretrained(path, trust_remote_code=False)


def check_fits(name: str, parameters: int, precision: str, device: str) -> None:
    """Refuse before loading when the weights cannot fit the device's free memory (unknown: go on)."""
    need = estimate_bytes(parameters, precision) + HEADROOM_BYTES
    free = free_bytes(device)
    if free is None:  # e.g. no real GPU behind CUDA yet (ZeroGPU Spaces attach it per call)
        return
    where = "this GPU" if device == "cuda" else "this machine's free RAM"
    if need > free:
        smaller = "nf4 precision or a smaller model (--model 1.5b or 7b)" if device == "cuda" else "a GPU or a smaller model (--model 1.5b)"
        raise ModelTooLargeError(
            f"{name} needs about {need / 1024**3:.0f} GiB in {precision} ({format_parameters(parameters)} "
            f"parameters plus working room); {where} has {free / 1024**3:.0f} GiB free. Try {smaller}."
        )


def _from_pretrained_kwargs(precision: str, device: str) -> dict[str, Any]:
    import torch
    import transformers

    dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    if precision in ("nf4", "int8"):
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise QuantizationUnavailableError(
                f"Precision {precision} needs bitsandbytes: `pip install bitsandbytes`, or use --precision bf16."
            ) from None
        from transformers import BitsAndBytesConfig

        if precision == "nf4":
            quant = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
            )
        else:
            quant = BitsAndBytesConfig(load_in_8bit=True)
        return {dtype_key: torch.bfloat16, "quantization_config": quant, "device_map": {"": 0}}
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    kwargs: dict[str, Any] = {dtype_key: dtype}
    if device == "cuda":
        kwargs["device_map"] = {"": 0}
    return kwargs


def load_causal_lm(
    spec: str,
    *,
    precision: str = "auto",
    device: str = "auto",
    prompt_family: str = "auto",
    context_length: int | None = None,
) -> LoadedModel:
    """Load one checkpoint, or raise a `ModelError` saying what to do instead."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, location = resolve_source(spec)
    path = fetch_from_hub(location) if source == "hub" else location
    if source == "bundled" and not Path(path, "config.json").is_file():
        raise ModelNotFoundError(f"The bundled model is missing from {path}; reinstall the app or rebuild it with `python -m training.train_bundled`.")
    config = read_config(path)
    device = choose_device(device)
    parameters = estimate_parameters(config)
    precision = choose_precision(precision, device, parameters)
    name = "bundled tiny math model" if source == "bundled" else (location if source == "hub" else Path(path).name)
    check_fits(name, parameters, precision, device)

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=False, **_from_pretrained_kwargs(precision, device))
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        raise OutOfMemoryError(
            f"Out of GPU memory while loading {name} in {precision}. Try --precision nf4 or a smaller model."
        ) from None
    if device == "cpu":
        model = model.to("cpu")
    model.eval()

    limit = getattr(config, "max_position_embeddings", None) or 4096
    context = min(limit, context_length) if context_length else limit
    family = detect_family(location if source == "hub" else path, tokenizer, prompt_family)
    generation_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    info = ModelInfo(
        name=name,
        source=source,
        path=str(path),
        family=family,
        parameters=sum(p.numel() for p in model.parameters()) if precision in ("bf16", "fp32") else parameters,
        precision=precision,
        device=str(next(model.parameters()).device),
        memory_bytes=int(model.get_memory_footprint()),
        context_length=int(context),
        fallback_reason=None,
    )
    log.info("loaded %s", info.describe())
    return LoadedModel(model=model, tokenizer=tokenizer, info=info, stop_ids=stop_token_ids(tokenizer, generation_eos))


def load_model(config: EngineSettings) -> LoadedModel:
    """The app's model: the configured one, or the bundled one with the reason said plainly.

    Falls back when the configured model cannot be had or cannot run here (not found, too
    large, quantization unavailable, out of memory) and `fallback_to_bundled` is on.
    """
    kwargs = {
        "precision": config.precision,
        "device": config.device,
        "prompt_family": config.prompt_family,
        "context_length": config.context_length,
    }
    try:
        return load_causal_lm(config.model_id, **kwargs)
    except ConfigError:
        raise
    except ModelError as exc:
        if not config.fallback_to_bundled or config.model_id == BUNDLED_MODEL:
            raise
        reason = f"{config.model_id} is not available here, so the app runs its small bundled offline model instead. {exc}"
        log.warning(reason)
    # The bundled model is small and trained in the Qwen2-Math prompt format.
    precision = "fp32" if config.precision in ("nf4", "int8", "auto") else config.precision
    bundled_kwargs = dict(kwargs, precision=precision, prompt_family="qwen2-math")
    loaded = load_causal_lm(BUNDLED_MODEL, **bundled_kwargs)
    loaded.info = replace(loaded.info, fallback_reason=reason)
    return loaded
