// The workflow editor: selecting cards, drag to reorder, the variable picker, the searchable
// trigger list, and a warning before leaving with unsaved changes. All edits that change the
// structure go to the server through htmx; this file only wires the browser side.
(function () {
  const form = document.getElementById("editor-form");
  if (!form) return;
  let dirty = form.hasAttribute("data-unsaved");  // a refused Save comes back with the edits still unsaved
  let refocus = false;  // a step moved from the keyboard keeps the focus after the re-render

  function select(body, key) {
    body.querySelectorAll(".editor-pane").forEach((pane) => pane.classList.toggle("d-none", pane.dataset.panel !== key));
    body.querySelectorAll(".flow-card").forEach((card) => {
      card.classList.toggle("selected", card.dataset.select === key);
      const open = card.querySelector(":scope > .flow-card-open");
      if (open) open.setAttribute("aria-pressed", String(card.dataset.select === key));
    });
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
        // Alt+↑ / Alt+↓ on a step's open button move the step within its list, like the menu's Move up / Move down
        if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
          const open = event.target.closest(".flow-card-open");
          const move = card.querySelector(`[hx-vals*="${event.key === "ArrowUp" ? "move_up" : "move_down"}"]`);
          if (open && open.closest(".flow-card") === card && move && !move.disabled) { event.preventDefault(); refocus = true; move.click(); }
          return;
        }
        if (event.target !== card) return;  // the step's own buttons (menu, open) handle their keys
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); card.click(); }
      });
    });
    const list = body.querySelector("[data-sortable]");
    if (list && window.Sortable) {
      // The main line and every branch path share one group, so a step can be dragged between them. The moved
      // step's hidden parent input takes its new list's name, and the server re-renders the editor.
      // Sortable's own "end" DOM event (which htmx listens for) comes before onEnd: so the parent input is set when
      // the step lands in another list (onAdd), before the form is sent.
      const onAdd = (event) => {
        const parent = event.item.querySelector(`[data-parent-of="${event.item.dataset.item}"]`);
        if (parent) parent.value = event.to.dataset.parent || "";
      };
      const onEnd = (event) => {
        if (event.from === event.to && event.oldIndex === event.newIndex) return;
        dirty = true;
        list.dispatchEvent(new Event("end", { bubbles: true }));
      };
      const options = { handle: ".drag-handle", animation: 150, ghostClass: "sortable-ghost", group: "flow", onAdd, onEnd };
      new Sortable(list, options);
      body.querySelectorAll("[data-sortable-path]").forEach((path) => new Sortable(path, options));
    }
    body.querySelectorAll("[data-branch-collapse]").forEach((button) => {
      button.addEventListener("click", (event) => {
        event.stopPropagation();
        const paths = button.closest(".flow-branch").querySelector(":scope > .branch-paths");
        const open = paths.classList.toggle("d-none") === false;
        button.setAttribute("aria-expanded", String(open));
        button.querySelector("i").className = open ? "bi bi-chevron-up" : "bi bi-chevron-down";
      });
    });
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
    if (refocus) {
      refocus = false;
      const moved = body.querySelector(".action-card.selected > .flow-card-open");
      if (moved) moved.focus();
    }
    body.dataset.current = body.dataset.selected;
    body.dataset.wired = "true";  // tests wait for it after a re-render
  }

  document.addEventListener("input", (event) => {
    const search = event.target.closest("[data-variable-search]");
    if (!search) return;
    const term = search.value.trim().toLowerCase();
    const menu = search.closest(".variable-menu");
    menu.querySelectorAll("[data-insert-variable]").forEach((item) => {
      item.closest("li").classList.toggle("d-none", Boolean(term) && !item.textContent.toLowerCase().includes(term));
    });
  });

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
    const match = body.querySelector('input[name="conditions_match"]:checked');
    const heading = body.querySelector("[data-conditions-match]");
    if (match && heading) heading.textContent = match.value === "any" ? "Any may hold" : "All must hold";
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
