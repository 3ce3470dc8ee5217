// Live updates by server-sent events: the overview's figures and a process's event log.
"use strict";

function followCounts(element) {
  const source = new EventSource(element.dataset.live);
  source.addEventListener("counts", (message) => {
    const counts = JSON.parse(message.data);
    for (const [name, value] of Object.entries(counts)) {
      const cell = element.querySelector(`[data-count="${name}"]`);
      const text = value === null ? "–" : String(value);
      if (cell && cell.textContent !== text) cell.textContent = text;
    }
  });
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function followEvents(table) {
  const body = table.querySelector("tbody");
  const source = new EventSource(table.dataset.live);
  source.addEventListener("process_event", (message) => {
    const event = JSON.parse(message.data);
    if (body.querySelector(`tr[data-sequence="${event.sequence}"]`)) return;
    const row = document.createElement("tr");
    row.dataset.sequence = String(event.sequence);
    row.append(cell(String(event.sequence)), cell(event.event_type, "mono"), cell(event.occurred_at));
    const payload = document.createElement("td");
    const pre = document.createElement("pre");
    pre.className = "json";
    pre.textContent = event.payload;
    payload.append(pre);
    row.append(payload);
    body.append(row);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const element of document.querySelectorAll(".cards[data-live]")) followCounts(element);
  for (const table of document.querySelectorAll("table[data-live]")) followEvents(table);
});
