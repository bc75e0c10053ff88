"""neodev: one tool for the NeoTool local development environment."""

__version__ = "0.1.0"
