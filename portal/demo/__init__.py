"""Demo data: two payors and two payees, enough to see every capability and tenant isolation."""
