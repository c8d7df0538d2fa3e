// The Runs page's workflow filter: a searchable Tom Select over the plain <select>. When the workspace
// has too many workflows for the page to list (data-search-url), it asks the server for the ones whose
// name matches what is typed (20 at a time); the chosen workflow is always in the page's <select>.
(() => {
  function remoteSearch(url) {
    return {
      preload: "focus",
      shouldLoad: () => true, // the empty query too: the first workflows by name
      load(query, callback) {
        fetch(`${url}?q=${encodeURIComponent(query)}`, { headers: { Accept: "application/json" } })
          .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
          .then((data) => callback(data.workflows.map((workflow) => ({ value: String(workflow.id), text: workflow.name }))))
          .catch(() => callback());
      },
    };
  }

  function enhance(select) {
    if (!window.TomSelect || select.tomselect) return;
    const url = select.dataset.searchUrl;
    new TomSelect(select, {
      allowEmptyOption: true, // "All workflows"
      plugins: ["dropdown_input"], // the search box opens under the chosen workflow
      maxOptions: url ? 21 : 200,
      searchField: ["text"],
      ...(url ? remoteSearch(url) : {}),
    });
  }

  document.querySelectorAll("select[data-workflow-filter]").forEach(enhance);
})();

// Selecting runs for a bulk action: the header box selects the page, the count says what is selected, and the
// table stops polling once something is selected (a refresh would clear the boxes). Without JavaScript the
// boxes and buttons work as a plain form.
(() => {
  function describe(form) {
    const boxes = form.querySelectorAll("input[data-select-run]");
    const checked = form.querySelectorAll("input[data-select-run]:checked").length;
    const all = form.querySelector("input[data-select-all-matching]");
    const count = form.querySelector("[data-bulk-count]");
    const page = form.querySelector("input[data-select-page]");
    if (page) {
      page.checked = boxes.length > 0 && checked === boxes.length;
      page.indeterminate = checked > 0 && checked < boxes.length;
    }
    if (all && all.checked) {
      count.textContent = `${all.labels[0].textContent.trim()} selected.`;
    } else if (checked) {
      count.textContent = `${checked} run${checked === 1 ? "" : "s"} selected.`;
    } else {
      count.textContent = "Select runs to replay, cancel or delete them.";
    }
    form.querySelectorAll("[data-bulk-action]").forEach((button) => {
      button.disabled = !(checked || (all && all.checked));
    });
  }

  function wire(form) {
    if (form.dataset.wired) return;
    form.dataset.wired = "1";
    form.addEventListener("change", (event) => {
      if (event.target.matches("input[data-select-page]")) {
        form.querySelectorAll("input[data-select-run]").forEach((box) => { box.checked = event.target.checked; });
      }
      describe(form);
    });
    describe(form);
  }

  function wireAll() {
    document.querySelectorAll("form[data-bulk-form]").forEach(wire);
  }

  document.addEventListener("htmx:beforeRequest", (event) => {
    const table = event.target.closest && event.target.closest("#runs-table");
    if (table && table.querySelector("input[data-select-run]:checked, input[data-select-all-matching]:checked")) {
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:afterSwap", wireAll);
  wireAll();
})();

// On a phone the status tabs scroll inside their own row: bring the current one (e.g. Failed) into view.
(() => {
  const tabs = document.querySelector(".run-tabs");
  const current = tabs && tabs.querySelector(".nav-link.active");
  if (!current || tabs.scrollWidth <= tabs.clientWidth) return;
  const item = current.closest(".nav-item");
  tabs.scrollLeft = Math.max(0, item.offsetLeft - tabs.offsetLeft - (tabs.clientWidth - item.offsetWidth) / 2);
})();
