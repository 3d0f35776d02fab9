"""Offline evaluation: greedy, Maj@N, the checked vote, RM@N, the weighted vote and pass@N on
problems with answers.

`python -m evaluation --data FILE.jsonl --n 8 [--model 1.5b] [--reward-model auto] ...`
runs the app's own Solver, answer checking and ranking; docs/evaluation.md specifies the input,
the method and the output files. Offline tooling: the app never imports this package.

    problems.py  reading the problem file
    scoring.py   one problem's samples judged on nested prefixes (Maj@N, checked, RM@N, weighted, pass@N)
    run.py       problems through the Solver, results.jsonl
    summary.py   accuracies over all problems
    report.py    summary.md, summary.json, accuracy.png
    cli.py       the command line
"""
