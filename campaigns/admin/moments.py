"""Admin of moments."""
