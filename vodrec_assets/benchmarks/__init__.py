"""Offline benchmarks behind `vodrec movielens-benchmark` and `vodrec bench` (pure: no Dagster)."""
