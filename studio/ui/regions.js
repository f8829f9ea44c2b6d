// The Finish tab's board (studio/ui/present/region_board.py draws it): drag a box over a part to fix, or paint
// over it with the brush. A box goes to the server in the picture's own pixels; a painted region as its strokes
// (white on black, at the picture's size) and their bounding box. The server adds a row to the review table
// and redraws the board. `element` outlives every redraw, so the listeners and the chosen tool sit on it.
let mode = "box";
let brushSize = 24;
let start = null;

const board = () => element.querySelector(".region-board");

function apply() {
  element.querySelectorAll("[data-mode]").forEach((b) => b.classList.toggle("active", b.dataset.mode === mode));
  const size = element.querySelector(".tools .size");
  if (size) size.hidden = mode !== "brush";
  const slider = element.querySelector(".brush-size");
  if (slider) slider.value = brushSize;
}

function pixelAt(event, sheet) {
  const rect = sheet.querySelector("img.picture").getBoundingClientRect();
  const x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
  const y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
  const scale = Number(board().dataset.width) / rect.width;
  return { x, y, px: Math.round(x * scale), py: Math.round((y / rect.height) * Number(board().dataset.height)), scale };
}

function drawTemporary(sheet, a, b) {
  const box = sheet.querySelector(".drawing");
  box.hidden = false;
  box.style.left = `${Math.min(a.x, b.x)}px`;
  box.style.top = `${Math.min(a.y, b.y)}px`;
  box.style.width = `${Math.abs(a.x - b.x)}px`;
  box.style.height = `${Math.abs(a.y - b.y)}px`;
}

function paint(sheet, from, to) {
  const context = sheet.querySelector("canvas.strokes").getContext("2d");
  context.strokeStyle = "white";
  context.lineCap = "round";
  context.lineJoin = "round";
  context.lineWidth = brushSize;
  context.beginPath();
  context.moveTo(from.px, from.py);
  context.lineTo(to.px, to.py);
  context.stroke();
}

element.addEventListener("click", (event) => {
  const button = event.target.closest("[data-mode]");
  if (!button) return;
  mode = button.dataset.mode;
  apply();
});
element.addEventListener("input", (event) => {
  if (event.target.matches(".brush-size")) brushSize = Number(event.target.value);
});
element.addEventListener("pointerdown", (event) => {
  const sheet = event.target.closest(".sheet");
  if (!sheet || event.button !== 0) return;
  event.preventDefault();
  const from = pixelAt(event, sheet);
  start = { sheet, from, last: from, box: [from.px, from.py, from.px, from.py] };
  sheet.setPointerCapture(event.pointerId);
  if (mode === "brush") paint(sheet, from, from);
});
element.addEventListener("pointermove", (event) => {
  if (!start) return;
  const here = pixelAt(event, start.sheet);
  if (mode === "brush") {
    paint(start.sheet, start.last, here);
    start.last = here;
    const b = start.box;
    start.box = [Math.min(b[0], here.px), Math.min(b[1], here.py), Math.max(b[2], here.px), Math.max(b[3], here.py)];
  } else {
    drawTemporary(start.sheet, start.from, here);
  }
});
element.addEventListener("pointerup", (event) => {
  if (!start) return;
  const { sheet, from, box } = start;
  const to = pixelAt(event, sheet);
  start = null;
  sheet.querySelector(".drawing").hidden = true;
  if (mode === "brush") {
    const canvas = sheet.querySelector("canvas.strokes");
    const half = Math.ceil(brushSize / 2);
    const width = Number(board().dataset.width);
    const height = Number(board().dataset.height);
    const grown = [Math.max(0, box[0] - half), Math.max(0, box[1] - half), Math.min(width, box[2] + half), Math.min(height, box[3] + half)];
    trigger("select", { brush: canvas.toDataURL("image/png"), box: grown });
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    return;
  }
  if (Math.abs(to.px - from.px) < 4 || Math.abs(to.py - from.py) < 4) return; // a click, not a box
  trigger("select", {
    box: [Math.min(from.px, to.px), Math.min(from.py, to.py), Math.max(from.px, to.px), Math.max(from.py, to.py)],
  });
});
watch("value", apply);
apply();
