"""Offline evaluation: metrics, protocols, the benchmark API and the leaderboard."""
