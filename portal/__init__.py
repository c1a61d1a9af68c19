"""Trestle, the construction payments portal: the application factory lives in ``portal.app``."""

from portal.app import create_app

__all__ = ["create_app"]
