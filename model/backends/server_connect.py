"""Connecting to the model server: which model it serves, the tokenizer that builds its
prompts, and what the server honours.

`GET /v1/models` names the model and, on vLLM, its context length; the served model's
tokenizer is loaded locally (tokenizer files only, never the weights); then a one-token probe
(`n=2`, `logprobs=1`) shows whether the server honours `n` and returns log-probabilities, and
whether it accepts the sampling fields outside the OpenAI schema (`top_k`, `min_p`,
`repetition_penalty`). The result is a `Connection`; the backend decides when to try.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai

from model import hub
from model.backends.protocol import BackendInfo, BackendUnavailable
from model.backends.server_errors import FailureWords
from model.backends.server_wire import sampling_fields, server_message, shorten
from model.params import MAX_CONTEXT, resolve_model_alias
from model.errors import ModelNotFoundError
from model.prompts import detect_family

log = logging.getLogger(__name__)

# Whether the same seed gives the same samples, by the name a server puts in `owned_by` of
# `/v1/models` (vLLM `owned_by: str = "vllm"`, SGLang "sglang", llama.cpp "llamacpp"). vLLM and
# llama.cpp seed a generator per request (vLLM: best effort, batching can change the arithmetic);
# SGLang honours seeds only with --enable-deterministic-inference. Unknown servers: no. Nor
# `transformers serve` ("local" or the Hub organisation): it seeds the one global torch RNG per
# request, so concurrent requests draw from each other's stream.
SERVER_KINDS = {"vllm": "vLLM", "sglang": "SGLang", "llamacpp": "llama.cpp"}
SEEDS_REPRODUCIBLE = {"vllm": True, "llamacpp": True, "sglang": False}
PROBE_PROMPT = "1 + 1 ="
TOKENIZER_FILES = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "*.tiktoken",
]


@dataclass(frozen=True)
class Capabilities:
    """What the probe found the server to honour."""

    n: bool
    logprobs: bool
    extra_fields: bool


@dataclass(frozen=True)
class Connection:
    """A server that answered: the model it serves, its tokenizer, what it honours, the facts."""

    model: str
    tokenizer: Any
    capabilities: Capabilities
    info: BackendInfo


@dataclass(frozen=True)
class ServerTarget:
    """The server and model the configuration asks for: `url` (as shown), `model` (None: the
    one `/v1/models` lists), `tokenizer_spec` (None: the served model's name), `context_length`
    (a cap, or None) and `prompt_family`."""

    url: str
    model: str | None
    tokenizer_spec: str | None
    context_length: int | None
    prompt_family: str

    def connect(self, client: openai.OpenAI, words: FailureWords) -> Connection:
        """List, load, probe; `BackendUnavailable` saying why the server cannot be used."""
        try:
            listed = list(client.models.list())
        except openai.OpenAIError as exc:
            raise words.unavailable(exc, "GET /models") from None
        except (ValueError, TypeError) as exc:
            raise BackendUnavailable(
                f"The model server at {self.url} sent a malformed model list ({shorten(str(exc))})."
            ) from None
        name, entry = self._choose_model(listed)
        tokenizer, tokenizer_dir = self._load_tokenizer(name)
        capabilities = self._probe(client, words, name)
        owner = str(getattr(entry, "owned_by", "") or "").lower()
        info = BackendInfo(
            kind="server",
            model=name,
            family=detect_family(name, tokenizer, self.prompt_family),
            precision="served",
            device=f"server {urlsplit(self.url).netloc}",
            context_length=self._context(entry, tokenizer_dir),
            seeds=SEEDS_REPRODUCIBLE.get(owner, False),
            logprobs=capabilities.logprobs,
            server=self.url,
            source="server",
            notes=capability_notes(capabilities, owner),
        )
        log.info(
            "connected to %s at %s (%s; n %s, log-probs %s, top-k/min-p/repetition fields %s)",
            name, self.url, SERVER_KINDS.get(owner, "server kind unknown"),
            "honoured" if capabilities.n else "ignored",
            "returned" if capabilities.logprobs else "not returned",
            "accepted" if capabilities.extra_fields else "refused",
        )
        return Connection(name, tokenizer, capabilities, info)

    def provisional_info(self) -> BackendInfo:
        """What is known before the server has answered."""
        name = self.model or "(server not connected yet)"
        return BackendInfo(
            kind="server",
            model=name,
            family=detect_family(self.model or "", None, self.prompt_family),
            precision="served",
            device=f"server {urlsplit(self.url).netloc}",
            context_length=min(self.context_length or MAX_CONTEXT, MAX_CONTEXT),
            seeds=False,
            logprobs=False,
            server=self.url,
            source="server",
            notes=("Not connected to the server yet.",),
        )

    def _choose_model(self, listed: list[Any]) -> tuple[str, Any]:
        ids = [str(getattr(m, "id", "")) for m in listed]
        if self.model:
            for entry, name in zip(listed, ids):
                if name == self.model:
                    return name, entry
            # Some servers load models on demand (transformers serve): ask for it anyway.
            return self.model, None
        if len(listed) == 1 and ids[0]:
            return ids[0], listed[0]
        if not listed:
            raise BackendUnavailable(
                f"The model server at {self.url} lists no model; name the one to use with --server-model."
            )
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise BackendUnavailable(
            f"The model server at {self.url} serves several models ({shown}); choose one with --server-model."
        )

    def _load_tokenizer(self, name: str) -> tuple[Any, str]:
        """The served model's tokenizer (whose chat template builds the prompt) and its folder."""
        from transformers import AutoTokenizer

        spec = self.tokenizer_spec or name
        try:
            path = fetch_tokenizer(spec)
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        except (ModelNotFoundError, OSError, ValueError) as exc:
            raise BackendUnavailable(
                f"The model server at {self.url} serves {name!r}, but its tokenizer cannot be loaded here "
                f"({shorten(str(exc))}). The app builds the prompt with the model's own chat template: start it "
                "with --tokenizer DIR (a local copy of the model's tokenizer files) or --tokenizer HUB_ID."
            ) from None
        if not getattr(tokenizer, "chat_template", None):
            raise BackendUnavailable(
                f"The tokenizer of {spec!r} has no chat template (a base model, not an Instruct one?). "
                "Start the app with --tokenizer pointing at the Instruct model's tokenizer."
            )
        return tokenizer, path

    def _probe(self, client: openai.OpenAI, words: FailureWords, name: str) -> Capabilities:
        """One-token completions: the first variant the server accepts tells what it honours."""
        refused: openai.APIStatusError | None = None
        for extra in (True, False):
            for n in (2, 1):
                for logprobs in (1, None):
                    params = sampling_fields(name, n=n, temperature=1.0, top_p=1.0, max_tokens=1, seed=0,
                                             logprobs=logprobs, extra=extra)
                    try:
                        reply = client.completions.create(prompt=PROBE_PROMPT, **params)
                        choices = list(reply.choices or [])
                        indices = {c.index for c in choices}
                        got_logprobs = any(c.logprobs is not None and c.logprobs.token_logprobs for c in choices)
                    except openai.APIStatusError as exc:
                        if 400 <= exc.status_code < 500 and exc.status_code not in (401, 403, 404, 429):
                            refused = exc
                            continue
                        raise words.unavailable(exc, "POST /completions") from None
                    except openai.OpenAIError as exc:
                        raise words.unavailable(exc, "POST /completions") from None
                    except (AttributeError, TypeError, ValueError) as exc:
                        raise BackendUnavailable(
                            f"The model server at {self.url} sent a malformed completion ({shorten(str(exc))})."
                        ) from None
                    return Capabilities(n=n > 1 and len(indices) > 1, logprobs=bool(logprobs and got_logprobs),
                                        extra_fields=extra)
        message = server_message(refused) if refused is not None else "no reason given"
        raise BackendUnavailable(
            f"The model server at {self.url} refused a one-token completion of {name!r} "
            f"(HTTP {refused.status_code if refused is not None else '?'}: {words.scrub(message)})."
        )

    def _context(self, entry: Any, tokenizer_dir: str) -> int:
        """Prompt + solution tokens: the server's limit (vLLM's max_model_len) and the configured
        cap, else the model's max_position_embeddings; never above MAX_CONTEXT."""
        limits: list[int] = []
        served = getattr(entry, "max_model_len", None)
        if isinstance(served, int) and served > 0:
            limits.append(served)
        if self.context_length:
            limits.append(self.context_length)
        if not limits:
            limits.append(model_context(tokenizer_dir) or MAX_CONTEXT)
        return min(min(limits), MAX_CONTEXT)


def capability_notes(capabilities: Capabilities, owner: str) -> tuple[str, ...]:
    """What the page should say about a server that honours less than the app's own sampler."""
    notes = []
    if not capabilities.extra_fields:
        notes.append(
            "The server refuses the top_k, min_p and repetition_penalty fields, so its own defaults "
            "(from the model's generation_config) apply to top-k and the repetition penalty."
        )
    if not capabilities.n:
        notes.append("The server ignores n: each sample is a request of its own.")
    if not capabilities.logprobs:
        notes.append("The server returns no log-probabilities: no confidence ranking without a reward model.")
    if not SEEDS_REPRODUCIBLE.get(owner, False):
        notes.append("On this server the same seed need not give the same samples.")
    return tuple(notes)


def model_context(directory: str) -> int | None:
    """max_position_embeddings from a model folder's config.json, if it says."""
    try:
        raw = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = raw.get("max_position_embeddings") if isinstance(raw, dict) else None
    return value if isinstance(value, int) and value > 0 else None


def fetch_tokenizer(spec: str) -> str:
    """A local folder with the tokenizer files (and config.json) of `spec`: a local directory as
    it is; a Hub id from the HF cache or, unless offline, downloaded (tokenizer files only,
    never the weights)."""
    spec = resolve_model_alias(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if spec.startswith((".", "/", "~")) or not hub.HUB_ID.match(spec):
        raise ModelNotFoundError(f"{spec!r} is neither a directory here nor a Hugging Face Hub id")
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return hub.fetch_snapshot(spec, patterns=TOKENIZER_FILES, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    if hub.offline():
        raise ModelNotFoundError(f"{spec} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    try:
        return hub.fetch_snapshot(spec, patterns=TOKENIZER_FILES, local_files_only=False)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise ModelNotFoundError(f"could not download the tokenizer of {spec}: {type(exc).__name__}") from None
