"""Shared kernel: database, money, errors, audit, outbox, htmx, encryption, storage, security."""
