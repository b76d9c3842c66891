"""Admin of stafftasks."""
