// berth's own few lines of script: copy buttons and confirmations. Everything else is htmx.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.querySelector(".copied");
  const said = (text) => { if (status) status.textContent = text; };
  field.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(() => said("Copied."), () => said("Selected: press Ctrl+C to copy."));
  } else {
    said("Selected: press Ctrl+C to copy.");
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
