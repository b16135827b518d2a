// MintGuard dashboard: the little the server cannot do. Pages work without it; htmx is the rest.
(function () {
  "use strict";

  function toast(text) {
    var box = document.getElementById("htmx-error");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  // Answers htmx does not swap (403, 404, 500...) and lost connections get a visible message.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = status === 403 ? "Not allowed: your role does not permit this action."
      : status === 404 ? "Not found: the page or row no longer exists."
      : "The server answered " + status + ". Reload the page and try again.";
    toast(text);
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Check the connection and try again.");
  });

  // After a swap, focus goes where the operator's next step is: the first invalid field, else what
  // the server marked (Confirm after Review), else, if the focused control was swapped away, the
  // new content itself. A swap that leaves focus in place (typing in a search box) keeps it.
  document.addEventListener("htmx:afterSettle", function (event) {
    var content = event.target;
    if (!content || !content.querySelector || !content.isConnected) return;
    var next = content.querySelector('[aria-invalid="true"]') || content.querySelector("[data-autofocus]");
    if (!next && content.matches("[data-autofocus]")) next = content;
    var lost = !document.activeElement || document.activeElement === document.body;
    if (!next && lost) {
      next = content;
      if (!next.hasAttribute("tabindex")) next.setAttribute("tabindex", "-1");
    }
    if (next) next.focus();
  });

  // "Refund the rest" and the like: fill the field it controls with its amount, only when asked.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-fill-amount]");
    if (!button) return;
    var field = document.getElementById(button.getAttribute("aria-controls"));
    if (!field) return;
    field.value = button.getAttribute("data-fill-amount");
    field.focus();
  });

  // "/" jumps to the page's search box, unless the operator is typing somewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) return;
    var search = document.querySelector("input[data-search], input[type=search]");
    if (!search) return;
    event.preventDefault();
    search.focus();
    search.select();
  });
})();

// --- layout: a table that scrolls sideways can be scrolled with the keyboard --------------------
// Only a table wider than its card becomes a tab stop (and a named region), so narrow pages keep
// their Tab order short.
(function () {
  "use strict";

  function markScrollingTables() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", "Table, scrolls sideways");
      } else if (box.hasAttribute("tabindex")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", markScrollingTables);
  document.addEventListener("htmx:afterSettle", markScrollingTables);
  window.addEventListener("resize", markScrollingTables);
})();

// --- lists: a filter form's empty fields stay out of the URL it pushes ---------------------------
// "?q=ann&status=PAID" rather than "?q=ann&status=PAID&currency=&from=...": the same list, a
// shorter link to bookmark and share (the server reads a missing field and an empty one alike).
document.addEventListener("htmx:configRequest", function (event) {
  var form = event.detail.elt;
  if (event.detail.verb !== "get" || !form.matches || !form.matches("form.filters")) return;
  var params = event.detail.formData || event.detail.parameters;
  Array.from(new FormData(form).keys()).forEach(function (name) {
    if (!form.elements[name] || form.elements[name].value !== "") return;
    if (params.delete) params.delete(name); else delete params[name];
  });
});
