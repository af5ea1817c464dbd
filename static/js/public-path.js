/* Set-up read by Bootstrap Italia's bundle, loaded before it (a static file: the Content
   Security Policy allows no inline script):
   - where it finds its fonts (its loadFonts()): the data-fonts attribute of this script's tag;
   - no <style> elements injected by the video player it bundles (video.js): the policy allows
     no inline style, and the portal shows no video. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (script && script.getAttribute("data-fonts")) {
    window.__PUBLIC_PATH__ = script.getAttribute("data-fonts");
  }
  window.VIDEOJS_NO_DYNAMIC_STYLE = true;
})();
