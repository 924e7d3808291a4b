// The rule form shows only the threshold of the check chosen (days, a percentage, extended support);
// without JavaScript every field shows and the server ignores the ones the check does not take.
(() => {
  const form = document.querySelector("form[data-rule-form]");
  if (!form) return;
  const kind = form.querySelector("select[name=kind]");
  const show = () => {
    form.querySelectorAll("[data-threshold]").forEach((wrapper) => {
      wrapper.hidden = wrapper.dataset.threshold !== kind.value;
    });
  };
  kind.addEventListener("change", show);
  show();
})();
