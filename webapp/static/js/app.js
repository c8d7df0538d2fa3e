// Shared behaviour: toasts fade out, confirmations before destructive forms, relative times.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#toasts .toast").forEach((el) => {
    setTimeout(() => el.classList.remove("show"), 6000);
  });
});
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
