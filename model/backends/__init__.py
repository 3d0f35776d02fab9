"""The backends that generate text for the Solver, chosen by the configuration.

- `local`: the model loaded in this process through transformers (`model.backends.local`);
- `server`: any OpenAI-compatible server, vLLM, SGLang, TGI, llama.cpp or `transformers serve`
  (`model.backends.server`, which connects through `server_connect`, talks HTTP through
  `server_wire` and words failures with `server_errors`), chosen by `--server-url`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from model.backends.protocol import Backend
from model.params import EngineSettings
from model.tools import CodeRunner


def _local(config: EngineSettings, inline: bool, tools: CodeRunner | None) -> Backend:
    from model.backends.local import LocalBackend
    from model.loading import load_model

    return LocalBackend(
        load_model(config),
        max_queue=config.max_queue,
        max_batch_rows=config.max_batch_rows,
        graphs=config.cuda_graphs,
        inline=inline,
        tools=tools,
    )


def _server(config: EngineSettings, inline: bool, tools: CodeRunner | None) -> Backend:
    from model.backends.server import ServerBackend

    return ServerBackend(
        config.server_url or "",
        model=config.server_model,
        api_key=config.server_api_key,
        timeout_s=config.server_timeout,
        tokenizer=config.tokenizer,
        context_length=config.context_length,
        prompt_family=config.prompt_family,
        tools=tools,
    )


BACKENDS: Mapping[str, Callable[[EngineSettings, bool, CodeRunner | None], Backend]] = {"local": _local, "server": _server}


def open_backend(config: EngineSettings, *, inline: bool = False, tools: CodeRunner | None = None) -> Backend:
    """The backend the configuration names (`config.backend`). `inline` decodes a local run in
    the caller's thread (ZeroGPU Spaces); `tools` runs the model's code when a run reasons with
    Python (`sandbox.Sandbox`, handed in by the app; without one such runs are refused)."""
    return BACKENDS[config.backend](config, inline, tools)


__all__ = ["BACKENDS", "open_backend"]
