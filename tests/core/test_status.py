"""Every status of every state machine has its badge: a label, a tone and the tone's shape."""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil

import pytest
from flask import render_template_string

import portal
from portal.core.status import TONE_SHAPES, Status, Tone
from portal.home.views import all_statuses


def portal_enums() -> list[type[enum.Enum]]:
    """Every enum class defined anywhere in the portal package."""
    found = []
    for module_info in pkgutil.walk_packages(portal.__path__, "portal."):
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, enum.Enum) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_status_enum_is_a_status_with_a_badge() -> None:
    statuses = [cls for cls in portal_enums() if cls.__name__.endswith(("Status", "State"))]
    assert statuses, "the walk found the portal's enums"
    unstyled = [cls.__name__ for cls in statuses if not issubclass(cls, Status)]
    assert unstyled == [], f"status enums without a label and tone per value: {unstyled}"
    for cls in statuses:
        for member in cls:
            assert member.label.strip(), f"{cls.__name__}.{member.name} has no label"
            assert member.tone in Tone, f"{cls.__name__}.{member.name} has no tone"


def test_every_tone_has_a_shape() -> None:
    assert set(TONE_SHAPES) == set(Tone)
    assert len(set(TONE_SHAPES.values())) == len(Tone), "shapes tell tones apart without colour"


def test_a_status_cannot_be_declared_without_its_tone() -> None:
    with pytest.raises(TypeError):

        class Broken(Status):
            ONLY = "only"


def test_the_badge_shows_text_tone_and_shape(app) -> None:
    with app.test_request_context():
        for cls in all_statuses():
            for member in cls:
                html = render_template_string(
                    '{% from "components/badge.html" import badge %}{{ badge(s) }}', s=member
                )
                assert f"badge-{member.tone}" in html
                assert member.tone.shape in html and member.label in html


def test_the_components_page_shows_every_status_value(client) -> None:
    from tests.factories import make_company, make_user, sign_in

    declared = {cls for cls in portal_enums() if issubclass(cls, Status) and cls is not Status}
    assert declared == set(all_statuses()), "the catalogue lists every status the code declares"
    user, phone = make_user(make_company())
    sign_in(client, user, phone)
    page = client.get("/_components").get_data(as_text=True)
    for cls in declared:
        for member in cls:
            assert f'data-status="{member.value}"' in page, f"{cls.__name__}.{member.name}"
