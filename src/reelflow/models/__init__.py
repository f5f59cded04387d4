"""Recommenders with one contract: fit, recommend, score, save and load."""
