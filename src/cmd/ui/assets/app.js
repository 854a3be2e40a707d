// greenbulk ui: the one script. It follows a run's progress (server-sent events) and takes a
// file dropped on the upload form. Everything works without it: forms post, pages reload.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const progress = document.getElementById("progress");
  if (progress && progress.dataset.finished === "false" && window.EventSource) {
    const source = new EventSource(progress.dataset.events);
    source.onmessage = (message) => {
      const state = JSON.parse(message.data);
      const bar = document.getElementById("bar");
      bar.max = Math.max(state.total, 1);
      bar.value = state.done;
      bar.textContent = `${state.done} of ${state.total}`;
      let counts = `${state.done} of ${state.total} rows: ${state.sent} sent, ${state.failed} failed, ${state.unknown} unknown`;
      if (state.retries > 0) counts += `, ${state.retries} retries`;
      if (state.rate > 0) counts += ` · ${state.rate}/s`;
      if (state.eta !== null) counts += ` · about ${state.eta} s left`;
      document.getElementById("counts").textContent = counts;
      const last = document.getElementById("last");
      last.replaceChildren(...state.last.map((line) => {
        const item = document.createElement("li");
        item.textContent = line;
        return item;
      }));
      if (state.finished) {
        source.close();
        window.location.reload();
      }
    };
  }

  const drop = document.querySelector("form.drop");
  const file = document.getElementById("file");
  if (drop && file) {
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      if (event.dataTransfer.files.length > 0) {
        file.files = event.dataTransfer.files;
      }
    });
  }
});
