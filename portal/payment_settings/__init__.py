"""A payor's payment settings: business entities (KYB), funding accounts, project controls."""
