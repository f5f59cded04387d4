"""Monitoring: served traffic compared with the champion's training data and answers."""
