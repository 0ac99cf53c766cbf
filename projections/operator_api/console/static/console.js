// Refreshes the element marked data-refresh every few seconds, keeping the page where the operator is.
(function () {
  const target = document.querySelector("[data-refresh]");
  if (!target) return;
  async function refresh() {
    try {
      const response = await fetch(target.dataset.refresh, { credentials: "same-origin" });
      if (response.ok) target.innerHTML = await response.text();
    } catch (error) { /* offline for a moment: the next tick tries again */ }
  }
  setInterval(refresh, 3000);
})();
