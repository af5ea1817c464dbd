/* Where Bootstrap Italia finds its fonts (its loadFonts()): the path is the data-fonts attribute
   of this script's tag (a static file, so the Content Security Policy needs no inline script). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (script && script.getAttribute("data-fonts")) {
    window.__PUBLIC_PATH__ = script.getAttribute("data-fonts");
  }
})();
