// The editor's Test panel (issue #20): sample data for the chosen trigger, Test and "Test this step".
(() => {
  const panel = document.getElementById("test-panel");
  if (!panel) return;
  const controls = document.getElementById("test-controls");
  const stepInput = controls.querySelector("[data-test-step-input]");
  const runButton = controls.querySelector("[data-test-run]");
  const title = document.getElementById("test-panel-title");
  let loadedFor = null;

  function triggerType() {
    const select = document.querySelector("#editor-form [name='trigger_type']");
    return select ? select.value : "";
  }

  function loadSamples() {
    const trigger = triggerType();
    if (trigger === loadedFor) return Promise.resolve();
    loadedFor = trigger;
    const url = `${controls.dataset.samplesUrl}?trigger_type=${encodeURIComponent(trigger)}`;
    return htmx.ajax("GET", url, { target: "#test-sample-box", swap: "innerHTML" });
  }

  panel.addEventListener("show.bs.offcanvas", () => { loadSamples(); });

  document.addEventListener("change", (event) => {
    const select = event.target.closest("[data-test-sample]");
    if (!select) return;
    const option = select.options[select.selectedIndex];
    const textarea = document.getElementById("test-payload");
    if (option && textarea) textarea.value = option.dataset.payload;
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-test-open]")) {
      stepInput.value = "";
      title.innerHTML = '<i class="bi bi-eyedropper"></i> Test this workflow';
      return;
    }
    const stepButton = event.target.closest("[data-test-this-step]");
    if (!stepButton) return;
    const card = stepButton.closest("[data-step]");
    stepInput.value = stepButton.dataset.testThisStep;
    title.textContent = `Test ${card ? card.dataset.step : "this step"}`;
    bootstrap.Offcanvas.getOrCreateInstance(panel).show();
    loadSamples().then(() => htmx.trigger(runButton, "click"));
  });

  // The results replace the last ones: show their start, or, for "Test this step", the step tested (the last).
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const results = event.detail.target;
    if (results.id !== "test-results") return;
    const steps = results.querySelectorAll("[data-test-step]");
    const tested = stepInput.value && steps.length && !results.querySelector("[data-test-not-run]");
    (tested ? steps[steps.length - 1] : results).scrollIntoView({ block: "start" });
  });
})();
