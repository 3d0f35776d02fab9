"""Getting checkpoints from the Hugging Face Hub: what a Hub id looks like, the offline switch,
the files fetched, and the cache.

The one place the policy loader (`model.loading`) and the reward-model loader (`model.reward`)
talk to huggingface_hub; each turns a failure into its own error or fallback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

# owner/name, as the Hub spells repository ids.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What a checkpoint needs: config, safetensors weights, tokenizer files (never remote code).
CHECKPOINT_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]


def offline() -> bool:
    """HF_HUB_OFFLINE is set to a true value (1, true, yes, on), as huggingface_hub reads it."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def fetch_snapshot(repo_id: str, *, local_files_only: bool, patterns: Sequence[str] = CHECKPOINT_FILES) -> str:
    """Local directory of `repo_id`'s files matching `patterns`, downloaded unless
    `local_files_only`; raises huggingface_hub's errors (all `OSError`s or `ValueError`s)."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id, allow_patterns=list(patterns), local_files_only=local_files_only)


def fetch_file(repo_id: str, filename: str, *, local_files_only: bool) -> str:
    """Local path of one file of `repo_id`, downloaded unless `local_files_only`."""
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id, filename, local_files_only=local_files_only)


def in_cache(repo_id: str, filename: str = "config.json") -> bool:
    """Whether `filename` of `repo_id` is already in the local Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, filename), str)
