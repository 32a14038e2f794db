"""Emitters: read a Spec, never C. Each turns the spec into one output kind."""
