"""Admin of sop."""
