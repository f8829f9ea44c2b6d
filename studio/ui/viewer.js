// The picture viewer (studio/ui/present/viewer.py draws it): pick a thumbnail, fit or 100 %, drag to pan,
// before/after. Runs once per viewer; `element` outlives every redraw, so listeners sit on it.
let zoom = "fit";
let split = 50;
const stage = () => element.querySelector(".stage");

function applyView() {
  const view = stage();
  if (!view) return;
  view.classList.toggle("fit", zoom === "fit");
  view.classList.toggle("full", zoom === "full");
  element.querySelectorAll("[data-zoom]").forEach((b) => b.classList.toggle("active", b.dataset.zoom === zoom));
  const before = element.querySelector("img.before");
  if (before) before.style.clipPath = `inset(0 ${100 - split}% 0 0)`; // covers the after picture, cut at the slider
  const slider = element.querySelector(".split");
  if (slider) slider.value = split;
}

function show(thumb) {
  element.querySelectorAll(".thumb").forEach((t) => t.classList.toggle("selected", t === thumb));
  const after = element.querySelector("img.after");
  const before = element.querySelector("img.before");
  after.src = thumb.dataset.src;
  after.alt = thumb.dataset.caption;
  element.querySelector(".caption").textContent = thumb.dataset.caption;
  before.hidden = !thumb.dataset.before;
  before.src = thumb.dataset.before || "";
  element.querySelector(".compare").hidden = !thumb.dataset.before;
}

element.addEventListener("click", (event) => {
  const thumb = event.target.closest(".thumb");
  if (thumb) {
    show(thumb);
    trigger("select", { index: Number(thumb.dataset.index) });
    return;
  }
  const button = event.target.closest("[data-zoom]");
  if (button) {
    zoom = button.dataset.zoom;
    applyView();
  }
});
element.addEventListener("input", (event) => {
  if (event.target.matches(".split")) {
    split = Number(event.target.value);
    applyView();
  }
});
element.addEventListener("load", applyView, true); // a picture's size is known once it has loaded

let drag = null; // at 100 %, the picture is moved by dragging it
element.addEventListener("pointerdown", (event) => {
  const view = event.target.closest(".stage.full");
  if (!view) return;
  drag = { view, x: event.clientX, y: event.clientY, left: view.scrollLeft, top: view.scrollTop };
  event.preventDefault();
});
window.addEventListener("pointermove", (event) => {
  if (!drag) return;
  drag.view.scrollLeft = drag.left - (event.clientX - drag.x);
  drag.view.scrollTop = drag.top - (event.clientY - drag.y);
});
window.addEventListener("pointerup", () => (drag = null));
function bringIntoView() {
  // A run started in another tab (Finish, Edit) ends here with the page still scrolled where that tab's button
  // was: the result would be off screen. Only then is the page moved, so a mark or a pick never makes it jump.
  requestAnimationFrame(() => {
    const view = stage();
    if (element.offsetParent === null || !view) return;
    const box = view.getBoundingClientRect();
    if (box.bottom < 40 || box.top > window.innerHeight - 40) view.scrollIntoView({ block: "center" });
  });
}

watch("value", () => {
  applyView();
  bringIntoView();
});
applyView();
bringIntoView(); // shown again after a run (hidden while its previews paint), the viewer starts here anew
