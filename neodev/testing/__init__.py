"""The pytest plugin: integration tests get the dev environment's own services.

`plugin.py` is the entry point (`pytest11`); the endpoint types a test receives are in
`endpoints.py` and re-exported here for type hints in test suites:

    from neodev.testing import PostgresService

    def test_orders(neodev_db: PostgresService) -> None: ...
"""

from neodev.testing.endpoints import PostgresService, ServiceEndpoint

__all__ = ["PostgresService", "ServiceEndpoint"]
