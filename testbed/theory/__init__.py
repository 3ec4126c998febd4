"""Closed-form and numerically exact predictions used by claims and benchmarks."""
