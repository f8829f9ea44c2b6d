// The version tree (studio/ui/present/tree_view.py draws it): drag to pan, wheel or buttons to zoom, click a
// picture to restore it, or, in compare mode, click two to compare them. `element` outlives every redraw.
let view = null; // {x, y, scale}; null until the first fit
let fittedSize = ""; // the canvas size the view was fitted to: a tree that grew (or another session's) is fitted anew
// Below this scale a card's thumbnails and words cannot be read: Fit then follows the picked (or newest) card.
const READABLE = 0.5;
let hideRejected = false;
let comparing = [];
const canvas = () => element.querySelector(".canvas");
const viewport = () => element.querySelector(".viewport");

function apply() {
  const c = canvas();
  if (!c) return;
  if (view === null || fittedSize !== `${c.offsetWidth}x${c.offsetHeight}`) fit();
  if (view === null) return; // hidden (another tab is open): fitted once it shows
  c.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
  element.querySelector(".tree")?.classList.toggle("hiding-rejected", hideRejected);
  const box = element.querySelector(".hide-rejected");
  if (box) box.checked = hideRejected;
  element.querySelectorAll(".pic").forEach((pic) => {
    const key = pic.dataset.node + ":" + pic.dataset.index;
    pic.classList.toggle("compare-a", comparing[0] === key);
    pic.classList.toggle("compare-b", comparing[1] === key);
  });
  const mode = element.querySelector(".compare-mode");
  if (mode) mode.checked = comparing.length > 0 || mode.dataset.on === "1";
}

// `whole`: the whole tree at any scale (the Fit button). Otherwise (a tree drawn anew) the whole tree if it reads
// at that scale, else a readable view on the picked (or newest) card, kept within the tree's edges.
function fit(whole = false) {
  const c = canvas();
  const v = viewport();
  if (!c || !v || v.clientWidth === 0) {
    view = null;
    return;
  }
  fittedSize = `${c.offsetWidth}x${c.offsetHeight}`;
  const all = Math.min(1, (v.clientWidth - 16) / c.offsetWidth, (v.clientHeight - 16) / c.offsetHeight);
  if (whole || all >= READABLE) {
    view = { x: Math.max(8, (v.clientWidth - c.offsetWidth * all) / 2), y: 8, scale: all };
    return;
  }
  const cards = c.querySelectorAll(".card");
  const focus = c.querySelector(".pic.selected")?.closest(".card") || cards[cards.length - 1];
  const scale = READABLE;
  const cx = focus ? focus.offsetLeft + focus.offsetWidth / 2 : c.offsetWidth / 2;
  const cy = focus ? focus.offsetTop + focus.offsetHeight / 2 : 0;
  view = {
    x: within(v.clientWidth / 2 - cx * scale, v.clientWidth, c.offsetWidth * scale),
    y: within(v.clientHeight / 2 - cy * scale, v.clientHeight, c.offsetHeight * scale),
    scale,
  };
}

// An offset along one axis that leaves no empty band before the tree's start or after its end (a tree that fits
// along it starts at the edge).
function within(offset, room, size) {
  if (size + 16 <= room) return 8;
  return Math.min(8, Math.max(room - size - 8, offset));
}

function zoomAt(factor, cx, cy) {
  const scale = Math.min(3, Math.max(0.1, view.scale * factor));
  view = { x: cx - ((cx - view.x) * scale) / view.scale, y: cy - ((cy - view.y) * scale) / view.scale, scale };
  apply();
}

function comparingOn() {
  return element.querySelector(".compare-mode")?.checked;
}

element.addEventListener("click", (event) => {
  const pic = event.target.closest(".pic");
  if (pic && !moved) {
    const key = pic.dataset.node + ":" + pic.dataset.index;
    if (comparingOn()) {
      comparing = comparing.length >= 2 ? [key] : [...comparing, key];
      apply();
      if (comparing.length === 2) trigger("submit", { a: comparing[0], b: comparing[1] });
      return;
    }
    element.querySelectorAll(".pic.selected").forEach((p) => p.classList.remove("selected"));
    pic.classList.add("selected");
    trigger("select", { node: pic.dataset.node, index: Number(pic.dataset.index) });
    return;
  }
  const act = event.target.closest("[data-act]")?.dataset.act;
  const v = viewport();
  if (act === "fit") {
    fit(true);
    apply();
  } else if ((act === "zoom-in" || act === "zoom-out") && view) {
    zoomAt(act === "zoom-in" ? 1.25 : 0.8, v.clientWidth / 2, v.clientHeight / 2);
  }
});
element.addEventListener("change", (event) => {
  if (event.target.matches(".hide-rejected")) {
    hideRejected = event.target.checked;
    apply();
  } else if (event.target.matches(".compare-mode")) {
    event.target.dataset.on = event.target.checked ? "1" : "";
    comparing = [];
    apply();
  }
});
element.addEventListener(
  "wheel",
  (event) => {
    const v = event.target.closest(".viewport");
    if (!v) return;
    event.preventDefault();
    const box = v.getBoundingClientRect();
    zoomAt(event.deltaY < 0 ? 1.1 : 0.9, event.clientX - box.left, event.clientY - box.top);
  },
  { passive: false },
);

let drag = null;
let moved = false; // a drag is not a click
element.addEventListener("pointerdown", (event) => {
  if (!event.target.closest(".viewport") || event.button !== 0) return;
  drag = { x: event.clientX, y: event.clientY, vx: view?.x ?? 0, vy: view?.y ?? 0 };
  moved = false;
});
window.addEventListener("pointermove", (event) => {
  if (!drag || !view) return;
  const dx = event.clientX - drag.x;
  const dy = event.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 4) moved = true;
  if (!moved) return;
  view = { ...view, x: drag.vx + dx, y: drag.vy + dy };
  apply();
});
window.addEventListener("pointerup", () => {
  drag = null;
  setTimeout(() => (moved = false), 0);
});
watch("value", apply);
// The History tab may be hidden when the tree is first drawn: fit once it has a size.
new ResizeObserver(() => {
  if (view === null) apply();
}).observe(element);
apply();
