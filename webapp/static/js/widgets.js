// Page behaviours that used to be inline scripts (the Content-Security-Policy allows scripts from
// this site only): submit-on-change selects, copy and reveal buttons, the new API token's copy button
// and the template gallery's filter. Listeners are delegated, so htmx-swapped parts work too.
(() => {
  const copied = (button) => {
    const before = button.innerHTML;
    button.innerHTML = '<i class="bi bi-check2"></i> Copied';
    setTimeout(() => { button.innerHTML = before; }, 1500);
  };
  const copyWithSelection = (text, button) => {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    copied(button);
  };
  const copyText = (text, button) => {
    if (navigator.clipboard && window.isSecureContext) {
      // Refused (no clipboard permission, e.g. a headless browser): fall back to a selection copy.
      navigator.clipboard.writeText(text).then(() => copied(button), () => copyWithSelection(text, button));
      return;
    }
    copyWithSelection(text, button);
  };

  // <select data-submit-on-change>: choosing an option submits its form (a workspace, a sort order).
  document.addEventListener("change", (event) => {
    const select = event.target.closest("[data-submit-on-change]");
    if (select && select.form) select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit();
  });

  document.addEventListener("click", (event) => {
    // [data-copy-target="#id"]: copy that field's value (or element's text); the webhook panel's buttons.
    const copy = event.target.closest("[data-copy-target]");
    if (copy) {
      const source = document.querySelector(copy.dataset.copyTarget);
      if (source) copyText(source.value !== undefined ? source.value : source.innerText, copy);
    }
    // [data-reveal-target="#id"]: show or hide a password field (the webhook signing secret).
    const reveal = event.target.closest("[data-reveal-target]");
    if (reveal) {
      const input = document.querySelector(reveal.dataset.revealTarget);
      if (input) input.type = input.type === "password" ? "text" : "password";
    }
    // Settings → API tokens: the token shown once.
    const copyToken = event.target.closest("#copy-token");
    if (copyToken) {
      const field = document.getElementById("new-token-secret");
      field.select();
      if (navigator.clipboard) navigator.clipboard.writeText(field.value);
      copyToken.innerHTML = '<i class="bi bi-check2"></i> Copied';
    }
  });

  // Template gallery: filter the cards as you type (the form still works without JavaScript).
  document.addEventListener("input", (event) => {
    const input = event.target.closest("[data-template-filter]");
    if (!input) return;
    const term = input.value.trim().toLowerCase();
    document.querySelectorAll(".template-col").forEach((col) => col.classList.toggle("d-none", Boolean(term) && !col.dataset.templateSearch.includes(term)));
    let any = false;
    document.querySelectorAll("[data-template-section]").forEach((section) => {
      const visible = section.querySelector(".template-col:not(.d-none)");
      section.classList.toggle("d-none", !visible);
      any = any || Boolean(visible);
    });
    const empty = document.querySelector("[data-template-empty]");
    if (empty) empty.classList.toggle("d-none", any);
  });
})();
