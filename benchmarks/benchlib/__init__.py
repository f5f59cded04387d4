"""Helpers of the flow benchmark harness (benchmarks/run_flows.py)."""
