// A table too wide for its box scrolls inside it (.table-responsive). While it does, the box takes the keyboard
// focus, so that someone without a mouse can scroll it with the arrow keys, and it is a region named after its
// table (its caption, else the heading above it), so a screen reader says what the focus landed on. A box whose
// table fits is left alone: no extra stop on the way through the page. Loaded as a file (the CSP allows no inline script).
(() => {
  "use strict";

  function nameOf(box) {
    const caption = box.querySelector("caption");
    if (caption && caption.textContent.trim()) return caption.textContent.trim();
    for (let element = box.previousElementSibling; element; element = element.previousElementSibling) {
      const heading = element.matches("h1, h2, h3, h4, h5, h6") ? element : element.querySelector("h1, h2, h3, h4, h5, h6");
      if (heading && heading.textContent.trim()) return heading.textContent.trim();
    }
    return "Table";
  }

  function mark(box) {
    if (box.scrollWidth > box.clientWidth + 1) {
      if (box.getAttribute("tabindex") === "0") return;
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", `${nameOf(box)} (scrolls sideways)`);
    } else if (box.hasAttribute("tabindex")) {
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
    }
  }

  // A box is marked again whenever its size or its table's changes (a narrower window, a details opened, new rows).
  const resized = new ResizeObserver((entries) => {
    for (const entry of entries) mark(entry.target.closest(".table-responsive"));
  });
  const watched = new WeakSet();

  function watch(root) {
    const boxes = root.matches?.(".table-responsive") ? [root] : [];
    for (const box of [...boxes, ...(root.querySelectorAll?.(".table-responsive") ?? [])]) {
      if (watched.has(box)) continue;
      watched.add(box);
      mark(box);
      resized.observe(box);
      if (box.firstElementChild) resized.observe(box.firstElementChild);
    }
  }

  document.addEventListener("DOMContentLoaded", () => watch(document));
  // htmx tells of every piece of page it puts in (and of the whole page once it starts).
  document.addEventListener("htmx:load", (event) => watch(event.target));
})();
