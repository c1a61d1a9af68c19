"""Seed the demo data idempotently and say how to sign in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    company_slug: str

    def line(self) -> str:
        return f"LOGIN {self.role} {self.email} {self.password} {self.company_slug}"


def seed_demo() -> list[DemoLogin]:
    """Create (or find) the demo companies and users; return the logins.

    Each capability adds its demo data here, keyed by natural identifiers (slugs, emails)
    so a second run changes nothing. Accounts and companies arrive with the identity
    capability; until then there is nothing to sign in with.
    """
    return []
