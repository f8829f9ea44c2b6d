// The picture editor (studio/ui/editor.py): a picture, a mask laid over it at an adjustable opacity, and a
// paint layer for colours that guide a repaint. Plain canvases: every stroke lands, nothing waits on a server.
//
// Python -> here: `value` = {token, picture_url, source, width, height, mask_url?, paint_url?}; a new token
// loads a new picture. Here -> Python: `props.value` gains `mask` and `paint` (PNG data URLs, or null) after
// each stroke, and a "change" event lets the studio keep them (a reload brings them back).
const MASK_TINT = "#4f7cff"; // the mask's colour until the artist picks another (kept in this browser)
const MASK_COLOUR_KEY = "studio-mask-colour";
const UNDO_DEPTH = 40;
const $ = (selector) => element.querySelector(selector);
const picture = $(".picture");
const maskCanvas = $("canvas.mask");
const paintCanvas = $("canvas.paint");
const cursor = $(".cursor");
const mapMode = $(".paint-editor").dataset.mode === "map"; // a control map: paint in its kind's colours only
let tool = mapMode ? "paint" : "mask";
// Only the mask's shape is sent; its colour is for the eye, so blue paint need never look like the mask.
let maskTint = localStorage.getItem(MASK_COLOUR_KEY) || MASK_TINT;
let size = 40;
let colour = "#d62828";
let loadedToken = null;
let undo = [];
let redo = [];
let stroke = null;
let loading = false;
let shownColours = [];

function say(text) {
  $(".message").textContent = text || "";
}

function visible() {
  return element.offsetParent !== null;
}

function snapshot() {
  return [maskCanvas, paintCanvas].map((c) => c.getContext("2d").getImageData(0, 0, c.width, c.height));
}

function restore(shot) {
  [maskCanvas, paintCanvas].forEach((c, i) => c.getContext("2d").putImageData(shot[i], 0, 0));
}

function isBlank(canvas) {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return false;
  return true;
}

function publish() {
  // The layers go to Python with the next event that reads the editor, and to the studio's draft now.
  const layers = {
    mask: isBlank(maskCanvas) ? null : maskCanvas.toDataURL("image/png"),
    paint: isBlank(paintCanvas) ? null : paintCanvas.toDataURL("image/png"),
  };
  props.value = { ...(props.value || {}), ...layers, mask_url: null, paint_url: null };
  trigger("change");
}

function showTools() {
  element.querySelectorAll("[data-tool]").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
  element.querySelectorAll(".swatch").forEach((b) => b.classList.toggle("active", b.dataset.colour === colour));
  $(".size-label").textContent = `${size} px`;
  $(".size").value = size;
  if (!mapMode) $(".colour").value = colour;
  maskCanvas.style.opacity = $(".opacity").value / 100;
  if (!mapMode) $(".mask-colour").value = maskTint;
  $(".undo").disabled = undo.length === 0;
  $(".redo").disabled = redo.length === 0;
}

function drawImage(url, canvas) {
  if (!url) return Promise.resolve();
  const image = new Image();
  image.src = url;
  return image.decode().then(() => canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height));
}

function setColours(colours, names) {
  // A map's colours come with it (ADE20K classes, or white and black), each with what it means; a picture's
  // swatches are fixed.
  if (!colours) return;
  $(".palette").innerHTML = colours
    .map((c, i) => {
      const name = (names || [])[i];
      const label = name ? `Paint with ${name}` : `Paint with ${c}`;
      const ink = name ? `;color:${readableOn(c)}` : "";
      return `<button type="button" class="swatch${name ? " named" : ""}" data-colour="${c}" style="background:${c}${ink}" title="${label}" aria-label="${label}">${name || ""}</button>`;
    })
    .join("");
  // A class just chosen comes first: the brush takes it for the very next stroke.
  if (!colours.includes(colour) || colours[0] !== shownColours[0]) colour = colours[0];
  shownColours = colours;
  showTools();
}

function readableOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#000" : "#fff";
}

function unload() {
  loadedToken = null;
  if (mapMode) {
    // A map's colours came with it: with no map, no colours of another kind stay on offer.
    $(".palette").innerHTML = "";
    shownColours = [];
  }
  $(".sheet").hidden = true;
  $(".empty").hidden = false;
  for (const canvas of [maskCanvas, paintCanvas]) canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  undo = [];
  redo = [];
}

async function load(value) {
  if (!value || !value.token) {
    if (loadedToken !== null) unload();
    return;
  }
  setColours(value.colours, value.colour_names);
  if (value.token === loadedToken) return;
  loadedToken = value.token;
  $(".sheet").hidden = !value.picture_url;
  $(".empty").hidden = !!value.picture_url;
  if (!value.picture_url) return;
  loading = true;
  say("Loading the picture…");
  for (const canvas of [maskCanvas, paintCanvas]) {
    canvas.width = value.width;
    canvas.height = value.height;
  }
  picture.src = value.picture_url;
  size = value.brush || Math.min(80, Math.max(4, Math.round(Math.max(value.width, value.height) / 16)));
  if (value.colours) colour = value.colours[0];
  fitSheet();
  try {
    await picture.decode();
    await drawImage(value.mask_url, maskCanvas);
    if (value.mask_url && !mapMode) recolourMask(maskTint); // a kept mask, shown in the colour chosen now
    await drawImage(value.paint_url, paintCanvas);
    say("");
    if (value.mask_url || value.paint_url) publish(); // layers back from the draft: the next run reads them
  } catch (error) {
    say("The picture could not be shown; send it again.");
  }
  undo = [];
  redo = [];
  loading = false;
  showTools();
}

function fitSheet() {
  // The picture as large as the board allows (small pictures too), its layers exactly over it.
  const board = $(".board");
  const width = maskCanvas.width;
  const height = maskCanvas.height;
  if (!width || !height || board.clientWidth === 0) return;
  const scale = Math.min((board.clientWidth - 4) / width, (board.clientHeight - 4) / height);
  $(".sheet").style.width = `${Math.floor(width * scale)}px`;
  $(".sheet").style.height = `${Math.floor(height * scale)}px`;
}

function point(event) {
  const box = maskCanvas.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) * maskCanvas.width) / box.width,
    y: ((event.clientY - box.top) * maskCanvas.height) / box.height,
  };
}

function paintTo(to) {
  const targets = tool === "erase" ? [maskCanvas, paintCanvas] : [tool === "mask" ? maskCanvas : paintCanvas];
  for (const canvas of targets) {
    const context = canvas.getContext("2d");
    context.globalCompositeOperation = tool === "erase" ? "destination-out" : "source-over";
    context.strokeStyle = tool === "mask" ? maskTint : colour;
    context.fillStyle = context.strokeStyle;
    context.lineWidth = size;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(stroke.x, stroke.y);
    context.lineTo(to.x + 0.01, to.y);
    context.stroke();
  }
  stroke = to;
}

function moveCursor(event) {
  const box = maskCanvas.getBoundingClientRect();
  const shown = (size * box.width) / maskCanvas.width;
  const board = $(".board").getBoundingClientRect();
  cursor.style.width = cursor.style.height = `${shown}px`;
  cursor.style.left = `${event.clientX - board.left - shown / 2}px`;
  cursor.style.top = `${event.clientY - board.top - shown / 2}px`;
  cursor.hidden = false;
}

maskCanvas.addEventListener("pointerdown", (event) => {
  if (loading || event.button !== 0) return;
  maskCanvas.setPointerCapture(event.pointerId);
  undo = [...undo.slice(-UNDO_DEPTH + 1), snapshot()];
  redo = [];
  stroke = point(event);
  paintTo(stroke);
});
maskCanvas.addEventListener("pointermove", (event) => {
  moveCursor(event);
  if (stroke) for (const e of event.getCoalescedEvents?.() || [event]) paintTo(point(e));
});
maskCanvas.addEventListener("pointerup", () => {
  if (!stroke) return;
  stroke = null;
  showTools();
  publish();
});
maskCanvas.addEventListener("pointerleave", () => (cursor.hidden = true));

function step(from, to) {
  if (!from.length) return;
  to.push(snapshot());
  restore(from.pop());
  showTools();
  publish();
}

function invertMask() {
  undo.push(snapshot());
  const context = maskCanvas.getContext("2d");
  const shot = context.getImageData(0, 0, maskCanvas.width, maskCanvas.height);
  const tint = [parseInt(maskTint.slice(1, 3), 16), parseInt(maskTint.slice(3, 5), 16), parseInt(maskTint.slice(5), 16)];
  for (let i = 0; i < shot.data.length; i += 4) {
    const inside = shot.data[i + 3] === 0;
    shot.data.set(inside ? [...tint, 255] : [0, 0, 0, 0], i);
  }
  context.putImageData(shot, 0, 0);
  showTools();
  publish();
}

function recolourMask(tint) {
  // The mask keeps its shape (what is sent); only the colour it is shown in changes.
  maskTint = tint;
  localStorage.setItem(MASK_COLOUR_KEY, tint);
  const context = maskCanvas.getContext("2d");
  context.save();
  context.globalCompositeOperation = "source-in";
  context.fillStyle = tint;
  context.fillRect(0, 0, maskCanvas.width, maskCanvas.height);
  context.restore();
}

function clearLayers() {
  undo.push(snapshot());
  for (const canvas of [maskCanvas, paintCanvas]) canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  showTools();
  publish();
}

async function uploadPicture(file) {
  const refuse = (why) => say(`${file.name} ${why}; the editor keeps what it had.`);
  if (!file.type.startsWith("image/")) return refuse("is not a picture (send a PNG, JPEG or WebP)");
  const probe = new Image();
  probe.src = URL.createObjectURL(file);
  try {
    await probe.decode();
  } catch (error) {
    return refuse("could not be read as a picture");
  } finally {
    URL.revokeObjectURL(probe.src);
  }
  if (Math.max(probe.naturalWidth, probe.naturalHeight) > 8192) return refuse("is larger than 8192 pixels a side");
  say("Uploading…");
  const sent = await upload(file);
  const value = {
    token: `upload-${Date.now()}`,
    picture_url: sent.url,
    source: { upload: sent.path },
    width: probe.naturalWidth,
    height: probe.naturalHeight,
    mask: null,
    paint: null,
  };
  props.value = value;
  await load(value);
  trigger("change");
}

element.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target) return;
  if (target.dataset.tool) tool = target.dataset.tool;
  if (target.dataset.colour) {
    colour = target.dataset.colour;
    tool = "paint";
  }
  if (target.matches(".undo")) step(undo, redo);
  if (target.matches(".redo")) step(redo, undo);
  if (target.matches(".invert")) invertMask();
  if (target.matches(".clear")) clearLayers();
  if (target.matches(".open")) $(".file").click();
  showTools();
});
element.addEventListener("input", (event) => {
  if (event.target.matches(".size")) size = Number(event.target.value);
  if (event.target.matches(".colour")) {
    colour = event.target.value;
    tool = "paint";
  }
  if (event.target.matches(".mask-colour")) {
    recolourMask(event.target.value);
    tool = "mask";
  }
  showTools();
});
element.addEventListener("change", (event) => {
  if (event.target.matches(".file") && event.target.files.length) {
    uploadPicture(event.target.files[0]);
    event.target.value = "";
  }
});
element.addEventListener("dragover", (event) => event.preventDefault());
element.addEventListener("drop", (event) => {
  event.preventDefault();
  if (event.dataTransfer.files.length) uploadPicture(event.dataTransfer.files[0]);
});
document.addEventListener("keydown", (event) => {
  if (!visible() || event.target.closest("input, textarea, [contenteditable]")) return;
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && key === "z") step(...(event.shiftKey ? [redo, undo] : [undo, redo]));
  else if ((event.ctrlKey || event.metaKey) && key === "y") step(redo, undo);
  else if (key === "[") size = Math.max(2, Math.round(size / 1.2));
  else if (key === "]") size = Math.min(400, Math.round(size * 1.2));
  else return;
  event.preventDefault();
  showTools();
});
new ResizeObserver(fitSheet).observe($(".board")); // the Edit tab may be hidden while a picture loads
watch("value", () => load(props.value));
load(props.value);
showTools();
