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
