"""Fixtures of the dashboard tests: the scripted shop (`shop.py`)."""

from tests.tui.shop import failing_shop, home, shop

__all__ = ["failing_shop", "home", "shop"]
