"""Optional test prerequisites: skip on a user's machine, fail in CI (MATHAPP_TEST_STRICT=1)."""

from __future__ import annotations

import os

import pytest


def require(available: bool, what: str) -> None:
    """Skip the calling test when `what` is missing, unless strict mode turns that into a failure."""
    if available:
        return
    if os.environ.get("MATHAPP_TEST_STRICT") == "1":
        pytest.fail(f"{what} is required in strict mode (MATHAPP_TEST_STRICT=1) but missing")
    pytest.skip(f"{what} is not available here")
