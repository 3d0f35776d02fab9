"""The app's settings: one frozen, self-validating dataclass (`AppConfig`: the model, the
log's database, the server's address, the teacher password, ...), and one function that fills
it from the command line and `MATHAPP_*` environment variables.

Per-request decoding settings (what a student changes in the page) are the model layer's
`model.params.SamplingParams`, validated with the same rules and messages.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from model.errors import ConfigError
from model.params import (
    BUNDLED_MODEL,
    DEVICES,
    MAX_CONTEXT,
    MAX_SAMPLES,
    PRECISIONS,
    PROMPT_FAMILIES,
    DEFAULT_MAX_NEW_TOKENS_CPU,
    DEFAULT_MAX_NEW_TOKENS_GPU,
    SamplingParams,
    check_choice,
    check_float,
    check_int,
    resolve_model_alias,
)

ENV_PREFIX = "MATHAPP_"
TIR_CHOICES = ("auto", "on", "off")

DEFAULT_MODEL = "Qwen/Qwen2-Math-1.5B-Instruct"

@dataclass(frozen=True)
class AppConfig:
    """Everything the app needs to start. Built once, never mutated; `replace()` for variants."""

    model: str = DEFAULT_MODEL
    prompt_family: str = "auto"
    precision: str = "auto"
    device: str = "auto"
    offline: bool = False
    fallback_to_bundled: bool = True
    reward_model: str = "auto"
    n_samples: int | None = None  # None: `default_sampling`'s, for the model and the hardware
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None
    max_problem_chars: int = 4000
    context_length: int | None = None
    db_url: str = "sqlite:///data/mathapp.sqlite3"
    teacher_password: str | None = field(default=None, repr=False)
    # Key of the browser's stored session id; unset = one generated once and kept beside the log.
    browser_secret: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    max_queue: int = 32
    max_batch_rows: int | None = None
    cuda_graphs: bool = True
    server_url: str | None = None
    server_model: str | None = None
    server_timeout: float = 60.0
    tokenizer: str | None = None
    # Read from MATHAPP_SERVER_API_KEY only (no flag: flags show in `ps`); never shown or logged.
    server_api_key: str | None = field(default=None, repr=False)
    # Reasoning with Python: auto (offered where the sandbox confines code; on by default for the
    # Qwen2.5-Math prompt family), on (offered, on by default for any model), off (never offered).
    tir: str = "auto"
    code_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.model or not self.model.strip():
            raise ConfigError("model must name a Hub id, a size (1.5b, 7b, 72b), a local path or 'bundled'.")
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("device", self.device, DEVICES)
        check_choice("prompt_family", self.prompt_family, PROMPT_FAMILIES)
        if self.device == "cpu" and self.precision in ("nf4", "int8"):
            raise ConfigError(
                f"precision {self.precision} needs bitsandbytes on a CUDA GPU; on the CPU use "
                "--precision fp32 or bf16."
            )
        if self.n_samples is not None:
            check_int("n_samples", self.n_samples, 0, MAX_SAMPLES)
        if self.temperature is not None:
            check_float("temperature", self.temperature, 0.0, 2.0)
        if self.top_p is not None:
            check_float("top_p", self.top_p, 0.0, 1.0, low_inclusive=False)
        if self.max_new_tokens is not None:
            check_int("max_new_tokens", self.max_new_tokens, 1, MAX_CONTEXT)
        if self.seed is not None:
            check_int("seed", self.seed, 0, 2**63 - 1)
        check_int("max_problem_chars", self.max_problem_chars, 1, 100_000)
        if self.context_length is not None:
            check_int("context_length", self.context_length, 64, 1_000_000)
        if not self.db_url.strip():
            raise ConfigError("db_url must be a SQLAlchemy URL such as sqlite:///data/mathapp.sqlite3.")
        check_int("port", self.port, 1, 65535)
        check_int("max_queue", self.max_queue, 1, 10_000)
        if self.max_batch_rows is not None:
            check_int("max_batch_rows", self.max_batch_rows, 1, 4096)
        if self.browser_secret is not None and len(self.browser_secret) < 16:
            raise ConfigError("browser_secret must be at least 16 characters (it keys every browser's stored session id).")
        if self.teacher_password is not None and len(self.teacher_password) < 8:
            raise ConfigError("The teacher password must have at least 8 characters.")
        if self.server_url is not None:
            check_server_url(self.server_url)
        check_float("server_timeout", self.server_timeout, 0.0, 3600.0, low_inclusive=False)
        check_choice("tir", self.tir, TIR_CHOICES)
        check_float("code_timeout", self.code_timeout, 0.0, 600.0, low_inclusive=False)
        for name in ("server_model", "tokenizer"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise ConfigError(f"{name} must not be empty when given.")

    @property
    def backend(self) -> str:
        """`server` when generation goes to an OpenAI-compatible server, else `local`."""
        return "server" if self.server_url else "local"

    @property
    def model_id(self) -> str:
        """The model to load: a Hub id, a local path, or `bundled`."""
        return BUNDLED_MODEL if self.offline else resolve_model_alias(self.model)


def check_server_url(url: str) -> None:
    """An http(s) URL without credentials (the API key goes in MATHAPP_SERVER_API_KEY)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ConfigError(f"server_url {url!r} is not a URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"server_url must be an http:// or https:// URL such as http://127.0.0.1:8000/v1; got {url!r}.")
    if parts.username or parts.password:
        raise ConfigError("server_url must not carry a user name or password; put the API key in MATHAPP_SERVER_API_KEY.")


# One row per option: (field, flag, type, help). Environment variable = MATHAPP_ + FIELD.upper().
_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("model", "--model", str, "Hub id, size alias (1.5b, 7b, 72b, 2.5-1.5b, 2.5-7b, 2.5-72b), local directory, or 'bundled'"),
    ("prompt_family", "--prompt-family", str, "prompt format: auto (from the model), qwen2-math or qwen2.5-math"),
    ("precision", "--precision", str, "auto | nf4 | int8 | bf16 | fp32 (auto: NF4 on CUDA for >=7B, bf16 on CUDA below, fp32 on CPU)"),
    ("device", "--device", str, "auto | cpu | cuda"),
    ("offline", "--offline", bool, "use the bundled offline model, never the Hub"),
    ("fallback_to_bundled", "--fallback-to-bundled", bool, "fall back to the bundled model when the chosen one cannot be had"),
    ("reward_model", "--reward-model", str, "auto | none | bundled | Hub id or directory of a Qwen2.5-Math-RM / PRM or likelihood reward model (none ranks by confidence)"),
    ("n_samples", "--n-samples", int, "default number of sampled solutions (0-64; default 8, or 2 for a model of 0.5B+ parameters on a CPU)"),
    ("temperature", "--temperature", float, "sampling temperature (default: the model family's, 1.0 for Qwen2-Math, 0.7 for Qwen2.5-Math)"),
    ("top_p", "--top-p", float, "nucleus sampling top-p (default: 0.9 for Qwen2-Math, 0.8 for Qwen2.5-Math)"),
    ("max_new_tokens", "--max-new-tokens", int, "default token budget per solution (default 2048 on GPU, 1024 on CPU, 512 for a model of 0.5B+ parameters on a CPU; clamped to the context)"),
    ("seed", "--seed", int, "default random seed (default: a fresh seed per run, recorded in the log)"),
    ("max_problem_chars", "--max-problem-chars", int, "longest problem accepted, in characters"),
    ("context_length", "--context-length", int, "cap on prompt + answer tokens (default: the model's own, 4096 for Qwen2-Math)"),
    ("db_url", "--db-url", str, "SQLAlchemy URL of the session log (default sqlite:///data/mathapp.sqlite3)"),
    ("teacher_password", "--teacher-password", str, "password of the teacher view; unset = no teacher view (prefer the environment variable)"),
    ("browser_secret", "--browser-secret", str, "key of the session id each browser keeps, so History survives restarts; unset = generated once and stored beside the SQLite log (set it for PostgreSQL or several app copies; prefer the environment variable)"),
    ("host", "--host", str, "address to serve on"),
    ("port", "--port", int, "port to serve on"),
    ("share", "--share", bool, "also open a public gradio.live link"),
    ("max_queue", "--max-queue", int, "solves that may wait for room in the batch (FIFO, one per browser session) before new ones are turned away"),
    ("max_batch_rows", "--max-batch-rows", int, "rows (solutions) decoded at once in the shared batch, all users together (default: what the free memory holds at full context, at most 130)"),
    ("cuda_graphs", "--cuda-graphs", bool, "on CUDA, capture the decode step as CUDA graphs at start-up (default on)"),
    ("server_url", "--server-url", str, "an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, transformers serve) to generate with, e.g. http://127.0.0.1:8000/v1; API key from MATHAPP_SERVER_API_KEY"),
    ("server_model", "--server-model", str, "the model name on that server (default: the one /v1/models lists)"),
    ("server_timeout", "--server-timeout", float, "seconds to wait for the server to connect or send the next piece of a reply"),
    ("tokenizer", "--tokenizer", str, "with --server-url: local directory or Hub id of the served model's tokenizer and chat template (default: the served model's name)"),
    ("tir", "--tir", str, "reasoning with Python (the model's code runs in the sandbox): auto (offered where the sandbox's required layers are active; on by default for Qwen2.5-Math), on (on by default for any model), off (never offered)"),
    ("code_timeout", "--code-timeout", float, "seconds one code run of reasoning with Python may take (wall clock and CPU)"),
)

SERVER_API_KEY_ENV = ENV_PREFIX + "SERVER_API_KEY"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"expected true/false, got {text!r}")


def build_arg_parser() -> argparse.ArgumentParser:
    """The command line of `python app.py`; every option also reads MATHAPP_<NAME>."""
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="Qwen2-Math Studio: solve math problems with Qwen2-Math-Instruct, "
        "streamed step by step, with Maj@N and RM@N over sampled solutions.",
        epilog="Every option can also be set with an environment variable MATHAPP_<OPTION> "
        "(e.g. MATHAPP_MODEL=7b, MATHAPP_TEACHER_PASSWORD=...). Flags win over the environment.",
    )
    defaults = AppConfig()
    for name, flag, kind, help_text in _OPTIONS:
        env = ENV_PREFIX + name.upper()
        default = getattr(defaults, name)
        shown = "unset" if default is None or name in ("teacher_password", "browser_secret") else default
        full_help = f"{help_text} [env {env}; default {shown}]"
        if kind is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=full_help)
        else:
            parser.add_argument(flag, dest=name, type=kind, default=None, help=full_help)
    return parser


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Build the configuration: defaults, then `MATHAPP_*` variables, then command-line flags.

    Raises `ConfigError` (a `ValueError`) with a readable message on any bad value.
    """
    environ = os.environ if environ is None else environ
    args = build_arg_parser().parse_args(list(argv) if argv is not None else [])
    values: dict[str, object] = {}
    for name, _flag, kind, _help in _OPTIONS:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            raw = environ[env_name]
            try:
                values[name] = _parse_bool(raw) if kind is bool else kind(raw)
            except (ValueError, ConfigError) as exc:
                raise ConfigError(f"{env_name}={raw!r} is not a valid {kind.__name__}: {exc}") from None
        cli = getattr(args, name)
        if cli is not None:
            values[name] = cli
    if environ.get(SERVER_API_KEY_ENV):
        values["server_api_key"] = environ[SERVER_API_KEY_ENV]
    return AppConfig(**values)


DEFAULT_N_SAMPLES = 8
# A real-size model on a CPU (model.speed.real_size_on_cpu: 0.5B+ parameters) decodes a few
# tokens a second: 8 samples of 1,024 tokens would take the better part of an hour, 2 of 512
# several minutes. The page says how long, and points to a GPU or --server-url.
SLOW_CPU_N_SAMPLES = 2
SLOW_CPU_MAX_NEW_TOKENS = 512


def default_sampling(config: AppConfig, family: str, on_gpu: bool, slow_cpu: bool = False) -> SamplingParams:
    """The settings a fresh page starts with: the config's, else the family's and hardware's
    (`slow_cpu`: a real-size model on a CPU, which starts with fewer, shorter samples). Reasoning
    with Python starts on for the Qwen2.5-Math family (`--tir auto`) or any (`--tir on`); the
    page turns it off where the sandbox is not confined enough."""
    from model.prompts import QWEN25_MATH, family_sampling_defaults

    temperature, top_p = family_sampling_defaults(family)
    max_new = DEFAULT_MAX_NEW_TOKENS_GPU if on_gpu else DEFAULT_MAX_NEW_TOKENS_CPU
    n = DEFAULT_N_SAMPLES
    if slow_cpu and not on_gpu:
        n, max_new = SLOW_CPU_N_SAMPLES, SLOW_CPU_MAX_NEW_TOKENS
    return SamplingParams(
        n=config.n_samples if config.n_samples is not None else n,
        temperature=config.temperature if config.temperature is not None else temperature,
        top_p=config.top_p if config.top_p is not None else top_p,
        max_new_tokens=config.max_new_tokens if config.max_new_tokens is not None else max_new,
        seed=config.seed,
        include_greedy=True,
        tir=config.tir == "on" or (config.tir == "auto" and family == QWEN25_MATH),
    )


__all__ = [
    "AppConfig",
    "build_arg_parser",
    "default_sampling",
    "load_config",
    "replace",
]
