"""Hostile networks, bad input and faults (issue 9): keep scanning, say what was missed."""
