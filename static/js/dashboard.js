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
})();
