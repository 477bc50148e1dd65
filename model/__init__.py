"""driftline model package."""
