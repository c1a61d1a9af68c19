"""Accounts: users, login, sessions, MFA and single sign-on."""
