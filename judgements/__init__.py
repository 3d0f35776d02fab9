"""The judgements: what the app concludes about solutions, without torch, gradio or SQL.

`answers/` extracts and compares final answers and votes (Maj@N); `ranking` turns scores into
RM@N and the reward-weighted vote; `steps/` checks each calculation a solution writes;
`reasoning_map` lays solutions into a tree of shared steps (`map_data`: the tree as data);
`analysis` computes all of it for one finished run, once, for the page, the log and the
evaluation to read (`claims`: a claim as JSON); `classwork` votes and maps one problem's runs
across a class.
"""
