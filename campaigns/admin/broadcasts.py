"""Admin of broadcasts."""
