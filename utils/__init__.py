"""driftline utils package."""
