"""The billing world's fixtures (tests/billing_world.py)."""

from tests.billing_world import billing, payee_client, payor_client  # noqa: F401
