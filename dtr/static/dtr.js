// Small behaviours of the portal that need a script: copy buttons.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  const done = () => {
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy"), 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    document.execCommand("copy");
    done();
  }
});

// Settings > Logs: the live view keeps its newest lines only (data-max-lines), so a page left
// open for a day stays light. The newest line is the first child (the view stacks bottom-up).
document.addEventListener("htmx:sseMessage", (event) => {
  const view = event.target.closest("[data-max-lines]");
  if (!view) return;
  const keep = Number(view.dataset.maxLines);
  while (view.childElementCount > keep) view.lastElementChild.remove();
});
