"""Serving: the recommendations HTTP API of the champion model, and the metrics dashboard (`vodrec serve`)."""
