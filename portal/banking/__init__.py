"""The banking partner: one gateway protocol, a sandbox bank (default) and, later, a file bank."""
