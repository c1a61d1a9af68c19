"""Typed domain errors that services raise and views turn into clear messages."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; nothing was changed. ``message`` is safe to show."""

    status_code = 409

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """Input that has the right shape but a value the domain cannot accept."""

    status_code = 400


class NotAllowed(DomainError):
    """The user may not do this to this object."""

    status_code = 403


class NotFound(DomainError):
    """No such object, or not one the user may know exists."""

    status_code = 404


class IllegalTransition(DomainError):
    """A state machine was asked to make a move its transition table does not allow."""

    status_code = 409
