"""Compliance documents: which documents a payor requires of its payees and when, the
documents on file per commitment and per invoice, and their expiry reminders."""
