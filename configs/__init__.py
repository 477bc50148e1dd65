"""driftline configs package."""
