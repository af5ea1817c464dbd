/* Entering actuals: the achievement of each row as you type, computed by the server.
 *
 * No scoring rule lives here: every change of a row's inputs posts them (debounced) to the
 * preview endpoint (data-preview-url of the form, CSRF token of the form) and shows the
 * achievement, its formula or the Italian error message in the row's <output>.
 */
(function () {
  "use strict";

  var form = document.getElementById("modulo-valori");
  if (!form || !window.fetch) {
    return;
  }
  var url = form.getAttribute("data-preview-url");
  var tokenInput = form.querySelector("input[name=csrfmiddlewaretoken]");
  var token = tokenInput ? tokenInput.value : "";
  var DELAY = 400;
  var timers = {};
  var pending = {};

  // Only the inputs that make the value and the override: not note, source or versions.
  var SKIP = /-(note|source|version|conflict|resolve)$/;

  function rowInputs(row) {
    var prefix = row.getAttribute("data-prefix");
    var inputs = {};
    row.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (!el.name || el.name.indexOf(prefix) !== 0 || SKIP.test(el.name)) {
        return;
      }
      var name = el.name.slice(prefix.length);
      inputs[name] = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value;
    });
    return inputs;
  }

  function show(row, data) {
    var out = row.querySelector("output.entry-preview");
    if (!out) {
      return;
    }
    out.textContent = "";
    out.className = "entry-preview d-block mb-2";
    if (!data) {
      return;
    }
    if (!data.ok) {
      out.classList.add("text-danger");
      out.textContent = data.message || "Valore non valido.";
      return;
    }
    var strong = document.createElement("strong");
    strong.textContent = "Con il valore scritto: " + data.display;
    out.appendChild(strong);
    if (data.override) {
      var badge = document.createElement("span");
      badge.className = "badge badge-override ms-1";
      badge.textContent = "rettifica";
      out.appendChild(badge);
    }
    if (data.band) {
      out.appendChild(document.createTextNode(" (" + data.band.toLowerCase() + ")"));
    }
    var formula = document.createElement("span");
    formula.className = "formula d-block";
    formula.textContent = data.formula;
    out.appendChild(formula);
  }

  function preview(row) {
    var target = row.getAttribute("data-target");
    if (pending[target]) {
      pending[target].abort();
    }
    var controller = window.AbortController ? new AbortController() : null;
    pending[target] = controller;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": token,
        "X-Requested-With": "XMLHttpRequest",
      },
      body: JSON.stringify({ target: target, inputs: rowInputs(row) }),
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        return type.indexOf("application/json") === 0 ? response.json() : null;
      })
      .then(function (data) {
        show(row, data);
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") {
          return;
        }
        show(row, null);
      });
  }

  function changed(event) {
    var row = event.target.closest(".entry-row");
    if (!row || SKIP.test(event.target.name || "")) {
      return;
    }
    var target = row.getAttribute("data-target");
    clearTimeout(timers[target]);
    timers[target] = setTimeout(function () {
      preview(row);
    }, DELAY);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);

  // Date picker: next to each date typed as gg/mm/aaaa, a calendar button opens the browser's
  // own date picker (a native date input with no name, so it is never submitted); the date
  // chosen is written back as gg/mm/aaaa and previewed as if typed. Typing stays the way to
  // enter a date from the keyboard; the text input is what the server reads.
  var icons = form.getAttribute("data-icons");

  function pad(number) {
    return (number < 10 ? "0" : "") + number;
  }

  function isoFromItalian(text) {
    var match = /^\s*(\d{1,2})[\/.\-](\d{1,2})[\/.\-](\d{4})\s*$/.exec(text);
    if (!match) {
      return /^\d{4}-\d{2}-\d{2}$/.test(text.trim()) ? text.trim() : "";
    }
    return match[3] + "-" + pad(parseInt(match[2], 10)) + "-" + pad(parseInt(match[1], 10));
  }

  function italianFromIso(iso) {
    var parts = iso.split("-");
    return parts.length === 3 ? parts[2] + "/" + parts[1] + "/" + parts[0] : "";
  }

  function calendarIcon() {
    var svgNS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("class", "icon icon-sm icon-primary");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var use = document.createElementNS(svgNS, "use");
    use.setAttribute("href", icons + "#it-calendar");
    svg.appendChild(use);
    return svg;
  }

  form.querySelectorAll("input[data-date-picker]").forEach(function (text) {
    var group = document.createElement("div");
    group.className = "entry-date";
    text.parentNode.insertBefore(group, text);
    group.appendChild(text);

    var picker = document.createElement("input");
    picker.type = "date";
    picker.className = "entry-date-picker";
    picker.tabIndex = -1;
    picker.setAttribute("aria-hidden", "true");

    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-outline-primary btn-sm entry-date-button";
    button.setAttribute("aria-label", "Scegli dal calendario: " + text.getAttribute("data-date-picker"));
    button.title = "Scegli dal calendario";
    if (icons) {
      button.appendChild(calendarIcon());
    } else {
      button.textContent = "Calendario";
    }
    group.appendChild(button);
    group.appendChild(picker);

    button.addEventListener("click", function () {
      picker.value = isoFromItalian(text.value);
      if (typeof picker.showPicker === "function") {
        try {
          picker.showPicker();
          return;
        } catch (error) {
          // not allowed here (no user activation, cross-origin frame): fall back to focus
        }
      }
      picker.focus();
    });
    picker.addEventListener("change", function (event) {
      event.stopPropagation();
      if (!picker.value) {
        return;
      }
      text.value = italianFromIso(picker.value);
      text.dispatchEvent(new Event("input", { bubbles: true }));
      text.focus();
    });
  });
})();
