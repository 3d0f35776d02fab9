"""`python -m sandbox FILE`: run FILE exactly as a model's new cell would run, print what it is shown.

The text the model would read goes to stdout; the layers in force (and the limit hit, if any)
go to stderr. Exit status 0 when the code ran without error, 1 when it failed, 2 when the
sandbox itself could not run it.
"""

from __future__ import annotations

import argparse
import sys

from sandbox.client import Sandbox
from sandbox.policy import Policy
from sandbox.result import SandboxError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="a Python file, run as one new cell with no earlier cells")
    parser.add_argument("--timeout", type=float, default=Policy().timeout_s, help="wall-clock limit in seconds")
    args = parser.parse_args(argv)
    with open(args.file, encoding="utf-8") as handle:
        code = handle.read()
    box = Sandbox(Policy(timeout_s=args.timeout))
    try:
        for layer in box.start():
            print(f"[sandbox] {layer.line()}", file=sys.stderr)
        result = box.run([code])
    except SandboxError as exc:
        print(f"[sandbox] {exc}", file=sys.stderr)
        return 2
    finally:
        box.close()
    print(result.output)
    limit = f", limit hit: {result.limit.value}" if result.limit else ""
    print(f"[sandbox] ok={result.ok}{limit}, {result.elapsed_s * 1000:.1f} ms", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
