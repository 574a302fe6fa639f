// Anki's reviewer keys on the study page: space or Enter shows the answer, 1-4 answer,
// u undoes. Without this script the buttons do the same.
"use strict";

// The card's frame takes the height its card reports (it cannot be measured from here).
const frame = document.getElementById("card");
if (frame instanceof HTMLIFrameElement) {
  window.addEventListener("message", (event) => {
    const height = event.source === frame.contentWindow && event.data
      ? event.data.cardHeight : undefined;
    if (typeof height === "number" && Number.isFinite(height)) {
      frame.style.height = `${Math.min(Math.max(Math.ceil(height), 96), 8000)}px`;
    }
  });
}

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
