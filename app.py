"""Qwen2-Math Studio: the entry point.

Reads the configuration (flags and MATHAPP_* variables), builds the Solver, the session log
and the Gradio UI, and keeps `demo` at module level so Hugging Face Spaces can import it.
`python app.py --help` lists every option.
"""

from __future__ import annotations

import sys

from settings import AppConfig, build_arg_parser, load_config
from model.errors import ConfigError


def read_config() -> AppConfig:
    """Flags when run as a script; only the environment when imported (Spaces, gradio reload)."""
    argv = sys.argv[1:] if __name__ == "__main__" else []
    try:
        return load_config(argv)
    except ConfigError as exc:
        build_arg_parser().error(str(exc))
        raise  # unreachable: error() exits


config = read_config()

from ui.app import build_app, launch  # noqa: E402  (after --help, which needs none of it)

demo = build_app(config)

if __name__ == "__main__":
    launch(demo, config)
