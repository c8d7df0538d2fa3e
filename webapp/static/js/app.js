// Shared behaviour: toasts fade out; htmx re-reads the CSRF token after a boosted swap.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#toasts .toast").forEach((el) => {
    setTimeout(() => el.classList.remove("show"), 6000);
  });
});
