// Shared behaviour: toasts hide themselves (Bootstrap's Toast, autohide), confirmations before destructive forms.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#toasts .toast").forEach((el) => {
    if (window.bootstrap) bootstrap.Toast.getOrCreateInstance(el, { autohide: true, delay: 6000 }).show();
  });
});
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
