"""Serving: an HTTP service that always answers, with fallbacks, hot swap and request logs."""
