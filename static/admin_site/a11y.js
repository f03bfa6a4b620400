/* Django's filter_horizontal widget (SelectFilter2.js) puts aria-label on a bare <span> (its search
 * icon), which assistive technology ignores (axe aria-prohibited-attr). Give those icons role="img", so
 * the label they carry is announced. SelectFilter2 builds its widgets on window load: run after it. */
(function () {
  "use strict";
  function nameIcons() {
    document.querySelectorAll("span[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
  }
  window.addEventListener("load", function () { window.setTimeout(nameIcons, 0); });
})();
