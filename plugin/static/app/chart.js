// Small charts in inline SVG: no library, readable without colour, their numbers in their
// labels and titles.

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

// A short date such as "Mar 3" for a calendar day "2026-03-03" (no time zone of its own:
// the report's days are already the shop's).
export function shortDate(day) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

// One column per day, the series stacked in each (the first filled, the next outlined, so
// they differ without colour). Each day's column carries a <title> with its numbers, the
// chart an aria-label with the period, the total and the busiest day.
// days: [{date, ...}], series: [{key, label, tone}] -> <svg>
export function dailyChart(days, series, { title = "", width = 280, height = 84, format = (n) => n.toLocaleString() } = {}) {
  const top = 12;
  const base = height - 16;
  const left = 4;
  const slot = (width - left) / Math.max(1, days.length);
  const totalOf = (day) => series.reduce((sum, s) => sum + day[s.key], 0);
  const totals = days.map(totalOf);
  const max = Math.max(...totals, 0);
  const scale = max > 0 ? (base - top) / max : 0;
  const busiest = totals.indexOf(max);
  const first = shortDate(days[0].date);
  const last = shortDate(days[days.length - 1].date);
  const numbers = (value, s) => (s.label ? `${format(value)} ${s.label}` : format(value));
  const parts = series.map((s) => numbers(days.reduce((n, day) => n + day[s.key], 0), s)).join(", ");
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    class: "chart daily",
    "aria-label": `${title}, ${first} to ${last}: ${parts} in total; most on ${shortDate(days[busiest].date)} (${format(max)})`,
  });
  chart.append(
    svg("line", { x1: left, x2: width, y1: top, y2: top, class: "chart-grid" }),
    svg("text", { x: left, y: top - 3, class: "chart-label" }, format(max)),
  );
  days.forEach((day, i) => {
    const x = left + i * slot;
    const column = svg("g", { class: "chart-day", "data-date": day.date });
    column.append(svg("title", {}, `${shortDate(day.date)}: ${series.map((s) => numbers(day[s.key], s)).join(", ")}`), svg("rect", { x, y: top, width: slot, height: base - top, class: "chart-hit" }));
    let y = base;
    series.forEach((s, n) => {
      const tall = day[s.key] * scale;
      if (!tall) return;
      y -= tall;
      const inset = n > 0 ? 0.5 : 0; // an outline sits inside its column
      column.append(
        svg("rect", {
          x: x + slot * 0.15 + inset,
          y: y + inset,
          width: Math.max(1, slot * 0.7 - 2 * inset),
          height: Math.max(1, tall - 2 * inset),
          class: n > 0 ? `chart-bar outlined tone-${s.tone || "default"}` : `chart-bar tone-${s.tone || "default"}`,
        }),
      );
    });
    chart.append(column);
  });
  chart.append(
    svg("line", { x1: left, x2: width, y1: base, y2: base, class: "chart-axis" }),
    svg("text", { x: left, y: height - 2, class: "chart-label" }, first),
    svg("text", { x: width, y: height - 2, "text-anchor": "end", class: "chart-label" }, last),
  );
  return chart;
}
