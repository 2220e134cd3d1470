"""Benchmarks of cellsv2 against baselines measured in the same run (issue 9).

Run by hand, never in CI: ``python -m benchmarks run [--quick] [--db sqlite|postgres] [--only NAME...]``.
See benchmarks/README.md for what each piece measures and how the targets are judged.
"""
