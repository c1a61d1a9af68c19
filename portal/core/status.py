"""Status values and how they look.

Every state machine's status enum subclasses ``Status``: each member is declared with its
label and its tone, so a status cannot exist without the words and the colour-and-shape the
badge shows for it. The badge macro (templates/components/badge.html) reads only these.
"""

from __future__ import annotations

import enum
from typing import Self


class Tone(enum.StrEnum):
    """The badge palette: a colour and a shape each, never colour alone."""

    NEUTRAL = "neutral"  # nothing to do: off, not started
    INFO = "info"  # a fact worth seeing
    PROGRESS = "progress"  # moving, waiting on someone or something
    SUCCESS = "success"  # done, on, paid
    WARNING = "warning"  # needs attention
    DANGER = "danger"  # failed, refused, blocked

    @property
    def shape(self) -> str:
        return TONE_SHAPES[self]


TONE_SHAPES = {
    Tone.NEUTRAL: "○",
    Tone.INFO: "◆",
    Tone.PROGRESS: "◐",
    Tone.SUCCESS: "✓",
    Tone.WARNING: "▲",
    Tone.DANGER: "✕",
}


class Status(enum.StrEnum):
    """Base of every status enum. Members are declared as ``NAME = value, label, tone``."""

    label: str
    tone: Tone

    def __new__(cls, value: str, label: str, tone: Tone) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.tone = tone
        return member


class ActivationStatus(Status):
    """Anything switched on or off: a payor's features, Pay on a project."""

    ON = "on", "On", Tone.SUCCESS
    OFF = "off", "Off", Tone.NEUTRAL

    @classmethod
    def of(cls, enabled: bool) -> ActivationStatus:
        return cls.ON if enabled else cls.OFF
