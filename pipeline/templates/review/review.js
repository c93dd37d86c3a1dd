// gifts review: keyboard shortcuts, Copy the note, and a mailto link that follows the draft being edited.
"use strict";
(function () {
  function gifts() { return Array.from(document.querySelectorAll("li.gift")); }
  function current() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("li.gift") : null;
  }
  function say(text) {
    var p = document.createElement("p");
    p.className = "flash"; p.setAttribute("role", "status"); p.textContent = text;
    document.querySelector("main").prepend(p);
    setTimeout(function () { p.remove(); }, 4000);
  }
  function copy(id) {
    var area = document.getElementById(id);
    if (!area) { return; }
    var done = function () { say("Note copied."); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(area.value).then(done, function () { area.select(); say("Press Ctrl+C to copy the selected note."); });
    } else {
      area.select(); say("Press Ctrl+C to copy the selected note.");
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (button) { copy(button.dataset.copy); }
  });
  document.addEventListener("input", function (event) {
    var area = event.target;
    if (area.tagName !== "TEXTAREA") { return; }
    document.querySelectorAll('a.mail[data-body="' + area.id + '"]').forEach(function (a) {
      a.href = a.href.replace(/([?&]body=)[^&]*/, "$1" + encodeURIComponent(area.value));
    });
  });
  document.addEventListener("keydown", function (event) {
    var tag = event.target.tagName;
    if (event.ctrlKey || event.metaKey || event.altKey || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") {
      if (event.key === "Escape" && (tag === "INPUT" || tag === "TEXTAREA")) { event.target.blur(); }
      return;
    }
    var list = gifts();
    var here = current();
    var at = list.indexOf(here);
    if (event.key === "?") { var help = document.getElementById("help"); help.hidden = !help.hidden; return; }
    if (event.key === "j" || event.key === "k") {
      var next = list[Math.max(0, Math.min(list.length - 1, at + (event.key === "j" ? 1 : -1)))];
      if (next) { next.focus(); next.scrollIntoView({block: "nearest"}); }
      event.preventDefault();
      return;
    }
    if (event.key === "r") {
      var person = (here || document.activeElement).closest ? (here || document.activeElement).closest("section.person") : null;
      var input = person ? person.querySelector('input[data-key="r"]') : null;
      if (input) { input.focus(); event.preventDefault(); }
      return;
    }
    if (!here) { return; }
    var target = here.querySelector('[data-key="' + event.key + '"]');
    if (!target) { return; }
    event.preventDefault();
    if (target.tagName === "TEXTAREA") { target.focus(); } else { target.click(); }
  });
  // After an action the page comes back at the gift acted on: focus it, so the keys go on from there.
  window.addEventListener("load", function () {
    var id = window.location.hash.slice(1);
    var el = id ? document.getElementById(id) : null;
    if (el && el.matches("li.gift")) { el.focus(); }
  });
}());
