// Live preview of an email template: re-posts the form to the preview endpoint, into the
// sandboxed frame, shortly after the last keystroke. A static file, so it runs under the
// admin's Content-Security-Policy (script-src 'self'); without it, the button still works.
"use strict";
(function () {
  function start() {
    const button = document.getElementById("gh-preview-button");
    if (!button || !button.form) {
      return;
    }
    const form = button.form;
    const live = document.getElementById("gh-preview-live");
    const names = ["key", "language", "company", "subject", "html_body", "text_body", "sms_body"];
    let timer = null;

    function refresh() {
      timer = null;
      form.requestSubmit(button);
    }
    function later() {
      if (live && !live.checked) {
        return;
      }
      if (timer) {
        clearTimeout(timer);
      }
      timer = setTimeout(refresh, 500);
    }
    names.forEach(function (name) {
      const field = form.elements.namedItem(name);
      if (field && field.addEventListener) {
        field.addEventListener("input", later);
        field.addEventListener("change", later);
      }
    });
    refresh();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
