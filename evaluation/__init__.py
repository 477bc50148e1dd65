"""driftline evaluation package."""
