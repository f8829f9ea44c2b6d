// The studio's keys, as in A1111: Ctrl+Enter (Cmd+Enter) in a prompt generates. Enter keeps adding a line.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || !target.closest) return;
  if (!target.closest("#prompt, #negative-prompt")) return;
  event.preventDefault();
  document.querySelector("#generate-button")?.click();
});
