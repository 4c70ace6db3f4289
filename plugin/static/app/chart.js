// A small horizontal bar chart in inline SVG: no library, readable without colour.

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

// bars: [{label, value, tone}] -> <svg>
export function barChart(bars, { title = "", width = 280, rowHeight = 26 } = {}) {
  const labelWidth = 84;
  const valueWidth = 40;
  const plot = width - labelWidth - valueWidth;
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  const height = bars.length * rowHeight;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    class: "chart",
    "aria-label": `${title}: ` + bars.map((bar) => `${bar.label} ${bar.value}`).join(", "),
  });
  bars.forEach((bar, i) => {
    const y = i * rowHeight;
    const barWidth = bar.value ? Math.max(2, (bar.value / max) * plot) : 0;
    chart.append(
      svg("text", { x: 0, y: y + rowHeight / 2 + 4, class: "chart-label" }, bar.label),
      svg("rect", {
        x: labelWidth,
        y: y + 6,
        width: plot,
        height: rowHeight - 12,
        rx: 4,
        class: "chart-track",
      }),
      svg("rect", {
        x: labelWidth,
        y: y + 6,
        width: barWidth,
        height: rowHeight - 12,
        rx: 4,
        class: `chart-bar tone-${bar.tone || "default"}`,
      }),
      svg(
        "text",
        { x: width, y: y + rowHeight / 2 + 4, "text-anchor": "end", class: "chart-value" },
        bar.value.toLocaleString(),
      ),
    );
  });
  return chart;
}

// An estimate with its interval on a line through zero: readable without colour, the
// numbers in its label.
export function intervalChart(estimate, low, high, { title = "", width = 280, format = String } = {}) {
  const height = 34;
  const pad = 12;
  const span = Math.max(Math.abs(low), Math.abs(high), Math.abs(estimate), 1e-9) * 1.15;
  const x = (value) => pad + ((value + span) / (2 * span)) * (width - 2 * pad);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    class: "chart interval",
    "aria-label": `${title}: ${format(estimate)}, from ${format(low)} to ${format(high)}`,
  });
  chart.append(
    svg("line", { x1: pad, x2: width - pad, y1: 17, y2: 17, class: "chart-track-line" }),
    svg("line", { x1: x(0), x2: x(0), y1: 4, y2: 30, class: "chart-zero" }),
    svg("rect", { x: x(low), y: 11, width: Math.max(2, x(high) - x(low)), height: 12, rx: 4, class: "chart-bar tone-info" }),
    svg("circle", { cx: x(estimate), cy: 17, r: 5, class: "chart-estimate" }),
  );
  return chart;
}
