"""Invoicing: projects (so far), later commitments, billing periods and invoices."""
