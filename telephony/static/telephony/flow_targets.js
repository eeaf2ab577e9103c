// Flow editor: a "Goes to" box says, as staff type, whether the name is an existing flow
// (and offers Open) or a new one ("new flow: Billing, created when you save"), and shows
// the template choice only for a new one. The names come from the page's
// <datalist id="flow-names"> (telephony/admin/flow_targets.py).
"use strict";
(function () {
  function names() {
    const list = document.getElementById("flow-names");
    if (!list) return new Set();
    return new Set(Array.from(list.options).map(function (option) {
      return option.value.trim().toLowerCase();
    }));
  }
  function update(input) {
    const box = input.closest(".flow-target");
    if (!box) return;
    const name = input.value.trim();
    const state = !name ? "" : names().has(name.toLowerCase()) ? "existing" : "new";
    box.dataset.state = state;
    const hint = box.querySelector(".flow-target-hint");
    if (hint) hint.textContent = state === "new" ? "new flow: " + name + ", created when you save" : "";
    const open = box.querySelector(".flow-target-open");
    if (open) {
      open.value = name;
      open.hidden = !name;
      open.title = "Save this page, then open " + name;
    }
  }
  function updateAll() {
    document.querySelectorAll(".flow-target-name").forEach(update);
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches(".flow-target-name")) update(event.target);
  });
  document.addEventListener("formset:added", updateAll);
  document.addEventListener("DOMContentLoaded", updateAll);
})();
