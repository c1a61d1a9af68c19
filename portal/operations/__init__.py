"""The operator console: platform staff's tools."""
