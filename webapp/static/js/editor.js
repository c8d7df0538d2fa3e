// The workflow editor: selecting cards, drag to reorder, the variable picker, the searchable
// trigger list, and a warning before leaving with unsaved changes. All edits that change the
// structure go to the server through htmx; this file only wires the browser side.
(function () {
  const form = document.getElementById("editor-form");
  if (!form) return;
  let dirty = form.hasAttribute("data-unsaved");  // a refused Save comes back with the edits still unsaved

  function select(body, key) {
    body.querySelectorAll(".editor-pane").forEach((pane) => pane.classList.toggle("d-none", pane.dataset.panel !== key));
    body.querySelectorAll(".flow-card").forEach((card) => card.classList.toggle("selected", card.dataset.select === key));
    const input = body.querySelector("[data-selected-input]");
    if (input) input.value = /^\d+$/.test(key) || key === "trigger" || key === "conditions" ? key : "";
  }

  function wire(body) {
    body.querySelectorAll(".flow-card[data-select]").forEach((card) => {
      card.addEventListener("click", (event) => {
        if (event.target.closest(".dropdown, .drag-handle")) return;
        const key = card.dataset.select === body.dataset.current ? "settings" : card.dataset.select;
        select(body, key);
        body.dataset.current = key;
      });
      card.addEventListener("keydown", (event) => {
        if (event.target !== card) return;  // the step's own buttons (menu, open) handle their keys
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); card.click(); }
      });
    });
    const list = body.querySelector("[data-sortable]");
    if (list && window.Sortable) {
      new Sortable(list, { handle: ".drag-handle", animation: 150, ghostClass: "sortable-ghost",
                           onEnd: (event) => { if (event.oldIndex !== event.newIndex) { dirty = true; list.dispatchEvent(new Event("end", { bubbles: true })); } } });
    }
    const search = body.querySelector("[data-palette-search]");
    if (search) {
      search.addEventListener("input", () => {
        const term = search.value.trim().toLowerCase();
        body.querySelectorAll(".palette-item").forEach((item) => item.classList.toggle("d-none", term && !item.textContent.toLowerCase().includes(term)));
        body.querySelectorAll(".palette-group").forEach((group) => group.classList.toggle("d-none", !group.querySelector(".palette-item:not(.d-none)")));
      });
    }
    body.querySelectorAll("select[data-tom-select]").forEach((element) => {
      if (window.TomSelect && !element.tomselect) {
        new TomSelect(element, { maxOptions: 200, dropdownParent: "body", searchField: ["text"], onChange: () => element.dispatchEvent(new Event("change", { bubbles: true })) });
      }
    });
    const conditionsPane = body.querySelector('[data-panel="conditions"]');
    if (conditionsPane) conditionsPane.addEventListener("input", () => summarizeConditions(body));
    body.querySelectorAll(".editor-pane[data-summary-inputs]").forEach((pane) => pane.addEventListener("input", () => summarizeAction(body, pane)));
    body.dataset.current = body.dataset.selected;
  }

  // An action card's summary line follows its fields as they are typed: the first filled one, in the server's order.
  function summarizeAction(body, pane) {
    const meta = body.querySelector(`.action-card[data-select="${pane.dataset.panel}"] .flow-card-meta`);
    const ids = pane.dataset.summaryInputs.split(" ").filter(Boolean);
    if (!meta || !ids.length) return;
    for (const id of ids) {
      const input = document.getElementById(id);
      if (input && input.value.trim()) {
        const label = body.querySelector(`label[for="${id}"]`);
        meta.textContent = `${label ? label.childNodes[0].textContent.trim() : id}: ${input.value.trim()}`.slice(0, 80);
        return;
      }
    }
  }

  // The Conditions card's summary follows the rows as they are typed (the server renders the same text).
  function summarizeConditions(body) {
    body.querySelectorAll("[data-condition-row]").forEach((row) => {
      const code = body.querySelector(`[data-condition="${row.dataset.conditionRow}"]`);
      const op = row.querySelector("select[name$='-op']").selectedOptions[0];
      if (!code || !op) return;
      const field = row.querySelector("select[name$='-field']").value || "?";
      const value = op.hasAttribute("data-unary") ? "" : " " + row.querySelector("input[name$='-value']").value;
      code.textContent = `${field} ${op.textContent}${value}`;
    });
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-insert-variable]");
    if (!button) return;
    const target = document.getElementById(button.dataset.insertTarget);
    if (!target) return;
    const start = target.selectionStart ?? target.value.length;
    const end = target.selectionEnd ?? target.value.length;
    target.value = target.value.slice(0, start) + button.dataset.insertVariable + target.value.slice(end);
    target.focus();
    dirty = true;
  });

  form.addEventListener("input", () => { dirty = true; });
  form.addEventListener("submit", () => { dirty = false; });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "editor-body") dirty = true;
  });
  window.addEventListener("beforeunload", (event) => {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
  htmx.onLoad((element) => {
    const body = element.id === "editor-body" ? element : element.querySelector && element.querySelector("#editor-body");
    if (body) wire(body);
  });
})();
