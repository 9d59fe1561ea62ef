"""Runnable lessons: each module trains a real model and shows what happens to its weights.

Run one with ``python -m demos.<name> [--quick] [--out DIR]``; list them with ``python -m demos``.
"""
