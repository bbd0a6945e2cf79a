"""Leaderboard rendering and the paper's published tables."""
