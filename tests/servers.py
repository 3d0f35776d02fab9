"""Real Gradio servers for the end-to-end tests, each on its own port with its own SQLite file.

`start_app` builds the app exactly as `app.py` does (config -> resources -> Blocks -> launch),
in this process, and returns its URL; the caller closes it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from settings import AppConfig
from training.tiny import train_tokenizer
from tests.conftest import TINY_CORPUS
from tests.crafted import build_scripted_model

# A short solution with inline LaTeX and a boxed answer, made of distinct tokens.
SCRIPT = "We add $2+3$ and get \\boxed{5}."
SCRIPT_ANSWER = "5"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scripted_model_dir(root: Path) -> Path:
    """A real Qwen2 checkpoint that answers every problem with SCRIPT, then stops."""
    tokenizer = train_tokenizer(TINY_CORPUS * 20 + [SCRIPT] * 50, vocab_size=500)
    return build_scripted_model(tokenizer, SCRIPT, root / "scripted", loop=False)


@dataclass
class RunningApp:
    url: str
    demo: object
    config: AppConfig

    @property
    def resources(self):
        return self.demo.resources  # type: ignore[attr-defined]

    def close(self) -> None:
        self.resources.close()
        self.demo.close()  # type: ignore[attr-defined]


def start_app(model_dir: Path, db_path: Path, **overrides) -> RunningApp:
    from ui.app import build_app, launch

    overrides.setdefault("port", free_port())
    config = AppConfig(
        model=str(model_dir),
        db_url=f"sqlite:///{db_path}",
        reward_model="none",
        fallback_to_bundled=False,
        **overrides,
    )
    demo = build_app(config)
    launch(demo, config, prevent_thread_lock=True, quiet=True)
    return RunningApp(url=f"http://127.0.0.1:{config.port}/", demo=demo, config=config)
