"""Admin of content."""
