// Flow editor: show only the field groups that matter for each step's verb.
// Groups are marked server-side with `step-for-<verb>` classes (see StepInline).
"use strict";
(function () {
  function update(select) {
    const step = select.closest(".inline-related");
    if (!step) return;
    step.querySelectorAll("fieldset[class*='step-for-']").forEach(function (group) {
      group.hidden = !group.classList.contains("step-for-" + select.value);
    });
  }
  function updateAll() {
    document.querySelectorAll("select[name^='steps-'][name$='-verb']").forEach(update);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[name$='-verb']")) update(event.target);
  });
  document.addEventListener("formset:added", updateAll);
  document.addEventListener("DOMContentLoaded", updateAll);
})();
