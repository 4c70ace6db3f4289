"""Nudge rules: the pure decision core. No I/O; `now` is always an argument."""
