"""Offline tooling that builds the bundled models: the synthetic problems (`synthetic`), the
bundled policy and reward model's training (`train_bundled`, `train_bundled_rm`), and the
builders of tiny models for tests and benchmarks (`tiny`, `tiny_rm`). The app never imports it.
"""
