"""Payee onboarding: invitations, the payee's profile and bank accounts, and each payor's
approval of the payee (DESIGN §6: invitation and beneficiary onboarding)."""
