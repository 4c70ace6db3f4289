"""Nudge connectors: the outside world (platforms and SendGrid). Never imports plugin."""
