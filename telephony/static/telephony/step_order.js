// Flow editor: steps numbered 1..n as shown, and Up/Down buttons to reorder them.
// Each step's hidden-by-this-script "Order" box holds its position; the server sorts by it
// (and renumbers 1..n). Django's inlines.js renumbers the forms' names by their order on
// the page when a new step is removed, so the steps are put back in form order first.
"use strict";
(function () {
  function group() {
    return document.getElementById("steps-group");
  }
  function rows() {
    const container = group();
    if (!container) return [];
    return Array.from(container.querySelectorAll(".inline-related.step-row")).filter(function (row) {
      return !row.classList.contains("empty-form");
    });
  }
  function position(row) {
    return row.querySelector("input[name$='-position']");
  }
  function number(changePositions) {
    rows().forEach(function (row, index) {
      const label = row.querySelector(".step-number");
      if (label) label.textContent = index + 1 + ".";
      const input = position(row);
      if (input && (changePositions || input.value === "")) input.value = index + 1;
    });
  }
  function prepare() {
    rows().forEach(function (row) {
      const move = row.querySelector(".step-move");
      if (move) move.hidden = false;
      const input = position(row);
      // The "Order" box with its label and help: the numbers and buttons replace it.
      const box = input && input.closest(".fieldBox");
      const line = box ? box.parentElement : input && input.closest(".form-row");
      if (line) line.classList.add("step-position-hidden");
    });
    number(false);
  }
  function move(row, up) {
    const all = rows();
    const index = all.indexOf(row);
    const other = all[up ? index - 1 : index + 1];
    if (!other) return;
    if (up) other.before(row);
    else other.after(row);
    number(true);
    row.querySelector(up ? ".step-up" : ".step-down").focus();
  }
  function formIndex(row) {
    const match = /-(\d+)$/.exec(row.id);
    return match ? Number(match[1]) : 0;
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest(".step-up, .step-down");
    if (button) {
      event.preventDefault();
      move(button.closest(".inline-related"), button.classList.contains("step-up"));
      return;
    }
    // Before inlines.js removes a new step: the steps back in form order.
    if (event.target.closest("#steps-group .inline-deletelink")) {
      const all = rows();
      all.sort(function (a, b) { return formIndex(a) - formIndex(b); });
      const anchor = group().querySelector(".empty-form");
      all.forEach(function (row) { anchor.before(row); });
    }
  }, true);
  document.addEventListener("formset:removed", function () {
    // Then back in the order staff chose.
    const all = rows();
    all.sort(function (a, b) { return Number(position(a).value) - Number(position(b).value); });
    const anchor = group().querySelector(".empty-form");
    all.forEach(function (row) { anchor.before(row); });
    number(true);
  });
  document.addEventListener("formset:added", function (event) {
    if (event.detail && event.detail.formsetName !== "steps") return;
    prepare();
  });
  document.addEventListener("DOMContentLoaded", prepare);
})();
