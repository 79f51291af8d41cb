"""A dlt source for ShotGrid (Flow Production Tracking)."""
