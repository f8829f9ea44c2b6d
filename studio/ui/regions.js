// The Finish tab's board (studio/ui/present/region_board.py draws it): drag over the picture to mark a box.
// The box goes to the server in the picture's own pixels; the server adds it to the review table and redraws.
let start = null;

function pixelAt(event, sheet) {
  const image = sheet.querySelector("img");
  const rect = image.getBoundingClientRect();
  const board = element.querySelector(".region-board");
  const x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
  const y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
  return {
    x,
    y,
    px: Math.round((x / rect.width) * Number(board.dataset.width)),
    py: Math.round((y / rect.height) * Number(board.dataset.height)),
  };
}

function drawTemporary(sheet, a, b) {
  const box = sheet.querySelector(".drawing");
  box.hidden = false;
  box.style.left = `${Math.min(a.x, b.x)}px`;
  box.style.top = `${Math.min(a.y, b.y)}px`;
  box.style.width = `${Math.abs(a.x - b.x)}px`;
  box.style.height = `${Math.abs(a.y - b.y)}px`;
}

element.addEventListener("pointerdown", (event) => {
  const sheet = event.target.closest(".sheet");
  if (!sheet || event.button !== 0) return;
  event.preventDefault();
  start = { sheet, from: pixelAt(event, sheet) };
  sheet.setPointerCapture(event.pointerId);
});
element.addEventListener("pointermove", (event) => {
  if (!start) return;
  drawTemporary(start.sheet, start.from, pixelAt(event, start.sheet));
});
element.addEventListener("pointerup", (event) => {
  if (!start) return;
  const { sheet, from } = start;
  const to = pixelAt(event, sheet);
  start = null;
  sheet.querySelector(".drawing").hidden = true;
  if (Math.abs(to.px - from.px) < 4 || Math.abs(to.py - from.py) < 4) return; // a click, not a box
  trigger("select", {
    box: [Math.min(from.px, to.px), Math.min(from.py, to.py), Math.max(from.px, to.px), Math.max(from.py, to.py)],
  });
});
