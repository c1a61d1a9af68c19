// Small progressive enhancements; every page works without them.
// A button with data-copy="#selector" copies that element's text to the clipboard.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  await navigator.clipboard.writeText(source.innerText.trim());
  const status = document.getElementById(button.dataset.copyStatus || "copy-status");
  if (status) status.textContent = "Copied to the clipboard.";
});

// The one confirmation dialog, for every irreversible action: htmx asks through
// htmx:confirm (hx-confirm), plain forms through data-confirm. No window.confirm.
function askToConfirm(message, acceptLabel, onAccept) {
  const dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") {
    onAccept();
    return;
  }
  dialog.querySelector("#confirm-dialog-message").textContent = message;
  const accept = dialog.querySelector("[data-confirm-accept]");
  accept.textContent = acceptLabel || "Confirm";
  const cancel = dialog.querySelector("[data-confirm-cancel]");
  const close = (confirmed) => {
    accept.onclick = null;
    cancel.onclick = null;
    dialog.close();
    if (confirmed) onAccept();
  };
  accept.onclick = () => close(true);
  cancel.onclick = () => close(false);
  dialog.showModal();
  cancel.focus();
}

document.addEventListener("htmx:confirm", (event) => {
  const question = event.detail.question;
  if (!question) return;
  event.preventDefault();
  const source = event.detail.elt.closest("[data-confirm-label]");
  askToConfirm(question, source && source.dataset.confirmLabel, () =>
    event.detail.issueRequest(true),
  );
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  // The form asks, or only the one button that does the irreversible part of it.
  const submitter = event.submitter;
  const asker =
    submitter && submitter.matches("[data-confirm]")
      ? submitter
      : form.matches("form[data-confirm]")
        ? form
        : null;
  if (!asker || form.dataset.confirmed === "yes") return;
  event.preventDefault();
  askToConfirm(asker.dataset.confirm, asker.dataset.confirmLabel, () => {
    form.dataset.confirmed = "yes";
    form.requestSubmit(event.submitter || undefined);
    delete form.dataset.confirmed;
  });
});

// Native dialogs: data-dialog-open="<id>" opens one, data-dialog-close closes its own.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-dialog-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialogOpen);
    if (dialog && typeof dialog.showModal === "function") dialog.showModal();
    return;
  }
  const closer = event.target.closest("[data-dialog-close]");
  if (closer) closer.closest("dialog").close();
  // A click outside an open menu closes it.
  document.querySelectorAll("details.user-menu[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.user-menu[open]").forEach((menu) => {
    menu.removeAttribute("open");
    menu.querySelector("summary").focus();
  });
});
// A form marked data-autosubmit finishes on its own (e.g. resuming an action after step-up);
// its visible button does the same without JS.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-autosubmit]");
  if (!form) return;
  form.requestSubmit();
  // Once only: a second submission would find its token already used.
  form.querySelectorAll("button").forEach((button) => { button.disabled = true; });
});

// A link to a closed panel (#id of a <details>, or of something inside one) opens it.
function openTargetedPanel() {
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  const panel = target && target.closest("details");
  if (panel && !panel.open) panel.open = true;
}
window.addEventListener("hashchange", openTargetedPanel);
document.addEventListener("DOMContentLoaded", openTargetedPanel);

// After an htmx swap, keep the keyboard where it was: on the same action's button in the
// new content (found by the form's action, which a toggle keeps), else on the swapped region.
let swapFocus = null;
document.addEventListener("htmx:beforeSwap", (event) => {
  // A panel that loads itself with the page (hx-trigger="load") is no answer to the user:
  // the keyboard stays where it is.
  const elt = event.detail.elt;
  if (elt && (elt.getAttribute("hx-trigger") || "").trim() === "load") {
    swapFocus = null;
    return;
  }
  const active = document.activeElement;
  const form = active && active.form;
  swapFocus = {
    action: form ? form.getAttribute("action") : null,
    region: event.detail.target && event.detail.target.id,
  };
});
document.addEventListener("htmx:afterSettle", () => {
  if (!swapFocus || (document.activeElement && document.activeElement !== document.body)) return;
  const { action, region } = swapFocus;
  swapFocus = null;
  const again = action && document.querySelector(`form[action="${CSS.escape(action)}"] button`);
  if (again) {
    again.focus();
    return;
  }
  const target = region && document.getElementById(region);
  if (target) {
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
  }
});

// A page that comes back with form errors puts the keyboard on the first field to fix.
document.addEventListener("DOMContentLoaded", () => {
  const invalid = document.querySelector('main [aria-invalid="true"]');
  if (!invalid) return;
  const panel = invalid.closest("details");
  if (panel) panel.open = true;
  invalid.focus();
});
