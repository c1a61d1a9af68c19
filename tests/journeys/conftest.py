"""Fixtures of the browser journeys."""

import pytest


@pytest.fixture
def another_person(browser, live_server):
    """A fresh browser context per person, watched for console errors like ``page``."""
    contexts, tabs = [], []

    def watch(tab):
        if hasattr(tab, "problems"):  # already watched
            return tab
        tab.problems = []

        def console(message) -> None:
            if message.type == "error":
                tab.problems.append(f"{message.text} ({message.location.get('url', '')})")

        tab.on("console", console)
        tab.on("pageerror", lambda e: tab.problems.append(str(e)))
        tabs.append(tab)
        return tab

    def open_context():
        context = browser.new_context(base_url=live_server)
        context.on("page", watch)  # pop-ups too, such as the sandbox bank's statement
        contexts.append(context)
        return watch(context.new_page())

    yield open_context
    for context in contexts:
        context.close()
    problems = [p for tab in tabs for p in tab.problems]
    assert problems == [], f"the browser reported errors: {problems}"
