"""Admin of group SOP."""
