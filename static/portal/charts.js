// Charts: <canvas data-chart="bar|line" data-chart-data="ID"> draws the JSON of the
// <script type="application/json" id="ID"> next to it ({labels: [...], datasets: [{label, data}]}),
// the output of Django's json_script. Every chart has its table on the page; this only draws.
// Loaded as a file (the CSP allows no inline script), after Chart.js (vendor/chartjs).
(() => {
  const palette = ["#0d6efd", "#dc3545", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#6c757d"];
  const draw = (root) => {
    root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      if (canvas.dataset.chartDrawn) return;
      const source = document.getElementById(canvas.dataset.chartData);
      if (!source || typeof Chart === "undefined") return;
      const data = JSON.parse(source.textContent);
      data.datasets.forEach((dataset, index) => {
        dataset.backgroundColor ??= palette[index % palette.length];
        dataset.borderColor ??= palette[index % palette.length];
      });
      new Chart(canvas, {
        type: canvas.dataset.chart,
        data,
        options: {
          animation: false,
          maintainAspectRatio: false,
          scales: { y: { beginAtZero: true, stacked: canvas.dataset.chartStacked === "true", ticks: { precision: 0 } },
                    x: { stacked: canvas.dataset.chartStacked === "true" } },
          plugins: { legend: { position: "bottom" } },
        },
      });
      canvas.dataset.chartDrawn = "true";
    });
  };
  document.addEventListener("DOMContentLoaded", () => draw(document));
  document.addEventListener("htmx:afterSettle", (event) => draw(event.target));
})();
