"""Click commands kept in their own modules and registered by sovscan.cli."""
