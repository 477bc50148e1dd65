"""driftline dataloader package."""
