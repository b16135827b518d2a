// The browsable API's "Log out" link submits its form: bound here, as the CSP runs no inline handler.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-submits]");
  const form = link && document.getElementById(link.dataset.submits);
  if (form) {
    event.preventDefault();
    form.submit();
  }
});
