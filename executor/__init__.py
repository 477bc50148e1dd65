"""driftline executor package."""
