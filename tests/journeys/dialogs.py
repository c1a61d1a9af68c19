"""The portal's own confirmation dialog, as a person answers it."""

from __future__ import annotations


def confirm(page, says: str | None = None) -> None:
    """Wait for the confirmation dialog, check what it says, and accept it."""
    dialog = page.locator("#confirm-dialog[open]")
    dialog.wait_for()
    if says is not None:
        assert says in dialog.locator("#confirm-dialog-message").text_content()
    dialog.locator("[data-confirm-accept]").click()
    page.locator("#confirm-dialog[open]").wait_for(state="detached")
