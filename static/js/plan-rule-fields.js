/* The rule of a target (templates/workspace/plan_rule_fields.html): only the parameters of the
   chosen kind are shown. The id of the kind's <select> is the data-kind-input attribute of this
   script's tag. Runs where it is included, right after the fieldset. */
(function () {
  "use strict";
  var script = document.currentScript;
  var kind = script && document.getElementById(script.getAttribute("data-kind-input") || "");
  if (!kind) { return; }
  function show() {
    document.querySelectorAll("#regola .rule-param").forEach(function (el) {
      var kinds = (el.getAttribute("data-kinds") || "").split(" ");
      el.hidden = kinds.indexOf(kind.value) === -1;
    });
  }
  kind.addEventListener("change", show);
  show();
})();
