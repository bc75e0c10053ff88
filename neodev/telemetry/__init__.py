"""Observability that wires itself: Prometheus targets, a Loki log shipper, service URLs.

Standalone building blocks for the daemon, one module per concern: `targets` (what Prometheus
scrapes, as file_sd files), `loki` (pushing unit output lines to Loki), `urls` (where the
observability services are reachable, and the Grafana Explore link for one unit's logs). They
know the plan, never the engine or a driver.
"""
