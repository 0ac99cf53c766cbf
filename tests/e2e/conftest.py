from tests.integration.conftest import nats_client

__all__ = ["nats_client"]
