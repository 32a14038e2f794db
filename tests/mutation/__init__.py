"""Mutation testing: the fixed CI sample (sample.toml, run by
tests/test_mutation_sample.py) and the campaign (run.py, cosmic-ray)."""
