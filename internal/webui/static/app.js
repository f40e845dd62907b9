// cpibroker console and portal: progressive enhancements only; every page
// works without this file. Loaded from 'self' (the CSP has no inline script).
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons next to snippets.
  document.querySelectorAll("pre[data-copy]").forEach(function (pre) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary copy";
    b.textContent = "Copy";
    b.setAttribute("aria-label", "Copy " + (pre.getAttribute("data-copy") || "snippet"));
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(pre.textContent).then(function () { b.textContent = "Copied"; });
    });
    pre.parentNode.classList.add("snippet");
    pre.parentNode.insertBefore(b, pre);
  });
  // Ask before destructive actions.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
});
