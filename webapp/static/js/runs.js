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
