"""vodrec: a Dagster asset-based platform that retrains a VOD recommender every week."""
