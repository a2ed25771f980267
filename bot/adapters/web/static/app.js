// Small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Call outcome: show the promise fields only when "promise" is chosen.
  for (const form of document.querySelectorAll("form.outcome")) {
    const fields = form.querySelector(".promise-fields");
    const sync = () => {
      const chosen = form.querySelector("input[name=outcome]:checked");
      const isPromise = chosen && chosen.value === "promise";
      fields.hidden = !isPromise;
      const date = fields.querySelector("input[type=date]");
      if (date) date.required = isPromise;
    };
    form.addEventListener("change", sync);
    sync();
  }
  // Ask before the few actions that are hard to undo.
  for (const button of document.querySelectorAll("button.danger")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.textContent.trim() + "?")) event.preventDefault();
    });
  }
});
