// Small behaviours for the KB pages. Everything is delegated from document so it keeps
// working on content htmx swaps in. No user-supplied string is ever inserted as HTML.
(function () {
  "use strict";

  function showSelected(input) {
    var list = document.getElementById("kb-selected-files");
    if (!list) return;
    list.replaceChildren();
    Array.prototype.forEach.call(input.files || [], function (file) {
      var li = document.createElement("li");
      li.textContent = file.name + " (" + Math.max(1, Math.round(file.size / 1024)) + " KB)";
      list.appendChild(li);
    });
  }

  // Drag and drop onto the drop zone fills the same <input type=file multiple> the picker uses.
  function dropzone(event) {
    return event.target instanceof Element ? event.target.closest("[data-kb-dropzone]") : null;
  }
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = dropzone(event);
      if (!zone) return;
      event.preventDefault();
      zone.classList.add("kb-dragover");
    });
  });
  document.addEventListener("dragleave", function (event) {
    var zone = dropzone(event);
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("kb-dragover");
  });
  document.addEventListener("drop", function (event) {
    var zone = dropzone(event);
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("kb-dragover");
    var input = zone.querySelector("input[type=file]");
    if (input && event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      showSelected(input);
    }
  });
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLInputElement && target.type === "file" && target.closest("[data-kb-dropzone]")) {
      showSelected(target);
    }
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-kb-autosubmit") && target.form) {
      target.form.submit();
    }
  });

  // <form data-kb-confirm="…">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.kbConfirm && !window.confirm(form.dataset.kbConfirm)) {
      event.preventDefault();
    }
  }, true);

  // Copy buttons and select-on-focus for the one-time API key.
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-kb-copy]") : null;
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-kb-copy"));
    if (!field) return;
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
  document.addEventListener("focusin", function (event) {
    if (event.target instanceof HTMLInputElement && event.target.hasAttribute("data-kb-select-on-focus")) {
      event.target.select();
    }
  });
})();
