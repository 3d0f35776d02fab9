"""The model layer: configuration, prompts, loading, the generation engine, answers and rewards.

Importing this package is cheap and pulls in neither torch nor gradio; submodules that need
torch import it themselves.
"""
