// Flow editor: "Listen" next to a Say step's text and a menu's prompt reads the text aloud
// in the browser (the Web Speech API's speechSynthesis: nothing goes to the server), in
// the step's language when one is set, so staff hear roughly what callers will. The
// buttons stay hidden in a browser without speechSynthesis.
"use strict";
(function () {
  const supported = Boolean(window.speechSynthesis && window.SpeechSynthesisUtterance);
  function show() {
    if (!supported) return;
    document.querySelectorAll(".listen-button").forEach(function (button) {
      if (!button.closest(".empty-form")) button.hidden = false;
    });
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest(".listen-button");
    if (!button || !supported) return;
    event.preventDefault();
    const box = button.parentElement.querySelector("textarea");
    const text = box ? box.value.trim() : "";
    window.speechSynthesis.cancel();
    if (!text) return;
    const utterance = new SpeechSynthesisUtterance(text);
    const step = button.closest(".inline-related");
    const fieldset = button.closest("fieldset");
    const language = fieldset && fieldset.querySelector("input[name$='_language']");
    if (language && language.value.trim()) utterance.lang = language.value.trim();
    else if (step && document.documentElement.lang) utterance.lang = document.documentElement.lang;
    window.speechSynthesis.speak(utterance);
  });
  document.addEventListener("formset:added", show);
  document.addEventListener("DOMContentLoaded", show);
})();
