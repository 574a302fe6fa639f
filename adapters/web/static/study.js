// Anki's reviewer keys on the study page: space or Enter shows the answer, 1-4 answer,
// u undoes. Without this script the buttons do the same.
"use strict";
document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.repeat) {
    return;
  }
  const target = event.target;
  if (target instanceof HTMLElement && target.closest("a, button, input, select, textarea")
      && (event.key === " " || event.key === "Enter")) {
    return; // the focused control handles these itself
  }
  let button = null;
  if (event.key === " " || event.key === "Enter") {
    button = document.getElementById("show-answer")
      || document.querySelector("button[data-rating='3']");
  } else if (["1", "2", "3", "4"].includes(event.key)) {
    button = document.querySelector(`button[data-rating='${event.key}']`);
  } else if (event.key === "u") {
    button = document.getElementById("undo");
  }
  if (button) {
    event.preventDefault();
    button.click();
  }
});
