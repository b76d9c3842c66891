"""Reads of campaigns, scoped to the user, one module per concept."""
