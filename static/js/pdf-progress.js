/* Progress of a PDF render (templates/reports/pdf_progress.html): polls the JSON status every
 * few seconds and updates the message; when the PDF is ready shows the download link, when the
 * render failed shows the error. Without JavaScript the page refreshes itself (meta refresh).
 */
(function () {
  "use strict";

  var box = document.getElementById("pdf-stato");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-status-url");
  var seconds = parseInt(box.getAttribute("data-poll-seconds"), 10) || 2;
  var finished = ["done", "failed"];

  function part(role) {
    return box.querySelector('[data-role="' + role + '"]');
  }

  function show(state) {
    part("message").innerHTML = state.message_html;
    box.setAttribute("data-status", state.status);
    if (state.finished) {
      part("bar").classList.add("d-none");
      var hint = part("hint");
      if (hint) {
        hint.hidden = true;
      }
    }
    if (state.status === "done" && state.download_url) {
      part("download-link").setAttribute("href", state.download_url);
      part("download").hidden = false;
      part("download-link").focus();
    }
    if (state.status === "failed") {
      part("error-text").textContent = state.error;
      part("error").hidden = false;
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (state) {
        show(state);
        if (!state.finished) {
          window.setTimeout(poll, seconds * 1000);
        }
      })
      .catch(function () {
        // A network hiccup: try again a little later.
        window.setTimeout(poll, seconds * 2000);
      });
  }

  if (finished.indexOf(box.getAttribute("data-status")) === -1) {
    window.setTimeout(poll, seconds * 1000);
  }
})();
