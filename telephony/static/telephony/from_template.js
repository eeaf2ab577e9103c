// "Add a flow from a template" (telephony/admin/flow_templates.py): show only the fields
// the chosen template takes. A static file, so it runs under the admin's CSP; without
// JavaScript every field shows, and the page ignores those the template does not take.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("from-template-form");
  if (!form) return;
  const fieldsOf = JSON.parse(form.dataset.templateFields || "{}");
  const optional = new Set(Object.values(fieldsOf).flat());
  function update() {
    const chosen = form.querySelector("input[name=template]:checked");
    const shown = new Set(fieldsOf[chosen ? chosen.value : ""] || []);
    for (const name of optional) {
      const row = form.querySelector(`.form-row.field-${name}`);
      // A field with an error stays in view, whatever is chosen.
      if (row) row.hidden = !shown.has(name) && !row.classList.contains("errors");
    }
  }
  form.addEventListener("change", update);
  update();
});
