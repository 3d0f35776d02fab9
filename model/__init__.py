"""The model layer: configuration, prompts, loading, the Solver and its backends, answers and rewards.

Importing this package is cheap and pulls in neither torch nor gradio; submodules that need
torch import it themselves.
"""
