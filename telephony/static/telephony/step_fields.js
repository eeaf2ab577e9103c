// Flow editor: show only the chosen verb's fields in each step.
// The server renders one fieldset per verb, marked `step-for-<verb>` (see
// telephony/admin/step_forms.py); without this script they all show, each headed by its
// verb, and the server reads only the chosen verb's.
"use strict";
(function () {
  function update(select) {
    const step = select.closest(".inline-related");
    if (!step) return;
    step.querySelectorAll("fieldset[class*='step-for-']").forEach(function (group) {
      group.hidden = !group.classList.contains("step-for-" + select.value);
    });
    const title = step.querySelector(".step-title");
    if (title && !step.classList.contains("has_original")) {
      title.textContent = select.options[select.selectedIndex].text;
    }
  }
  function updateAll() {
    document.querySelectorAll("select[name^='steps-'][name$='-verb']").forEach(update);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[name^='steps-'][name$='-verb']")) update(event.target);
  });
  document.addEventListener("formset:added", updateAll);
  document.addEventListener("DOMContentLoaded", updateAll);
})();
