// "/" focuses the header's search box from anywhere, unless someone is typing in a field (or pressed it with a
// modifier). Loaded as a file: the CSP allows no inline script.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  const target = event.target;
  if (target instanceof Element && (target.isContentEditable || target.closest("input, textarea, select"))) return;
  const box = document.querySelector("[data-site-search]");
  if (!box) return;
  event.preventDefault();
  box.focus();
  box.select();
});
