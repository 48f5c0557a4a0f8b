// Small SVG charts drawn by Corral's own code: a sparkline and a bar chart with labelled axes.
// Every label is set with textContent, so data never becomes markup.

const SVG = "http://www.w3.org/2000/svg";

function node(tag, attributes = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

function titled(element, text) {
  const title = node("title");
  title.textContent = text;
  element.appendChild(title);
  return element;
}

/** A line of `values` (numbers) in a small box; `label` is read by screen readers. */
export function sparkline(values, { width = 120, height = 28, label = "trend" } = {}) {
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "sparkline" });
  svg.setAttribute("aria-label", label);
  titled(svg, label);
  if (!values.length) return svg;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((value, index) => {
    const x = values.length > 1 ? index * step : width / 2;
    const y = height - 2 - (value / max) * (height - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  svg.appendChild(node("polyline", { points: points.join(" "), class: "spark-line" }));
  const area = `0,${height} ${points.join(" ")} ${width},${height}`;
  svg.insertBefore(node("polygon", { points: area, class: "spark-area" }), svg.lastChild);
  return svg;
}

/** The drawing width that fits `container` (its content box), for charts drawn at their real size. */
export function widthOf(container, fallback = 640) {
  return container.clientWidth > 0 ? Math.max(280, Math.floor(container.clientWidth - 2)) : fallback;
}

/**
 * Bars for `points` ([{label, value, title}]) with a y axis of round ticks and a few x labels.
 * `series` may hold a second value per point ({value2}) drawn stacked in the warning colour.
 * `markers` ([{at, label}], `at` a fraction 0..1 of the x axis) are drawn as labelled vertical lines (releases).
 */
export function barChart(points, { width = 640, height = 200, label = "chart", unit = "", markers = [] } = {}) {
  const margin = { top: 10, right: 8, bottom: 24, left: 40 };
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "chart" });
  svg.setAttribute("aria-label", label);
  titled(svg, label);
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = height - margin.top - margin.bottom;
  const max = Math.max(4, ...points.map((p) => (p.value || 0) + (p.value2 || 0)));
  const top = niceCeiling(max);
  for (let tick = 0; tick <= 4; tick += 1) {
    const value = (top * tick) / 4;
    const y = margin.top + innerHeight - (value / top) * innerHeight;
    svg.appendChild(node("line", { x1: margin.left, x2: width - margin.right, y1: y, y2: y, class: "grid" }));
    const text = node("text", { x: margin.left - 4, y: y + 3, class: "axis", "text-anchor": "end" });
    text.textContent = formatTick(value);
    svg.appendChild(text);
  }
  const slot = points.length ? innerWidth / points.length : innerWidth;
  const barWidth = Math.max(1, slot * 0.8);
  const labelEvery = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((point, index) => {
    const x = margin.left + index * slot + (slot - barWidth) / 2;
    const value = point.value || 0;
    const value2 = point.value2 || 0;
    const h1 = (value / top) * innerHeight;
    const h2 = (value2 / top) * innerHeight;
    const group = titled(node("g", { class: "bar" }), point.title || `${point.label}: ${value}${unit}`);
    group.appendChild(node("rect", { x, y: margin.top + innerHeight - h1, width: barWidth, height: h1, class: "bar-main" }));
    if (value2) {
      group.appendChild(
        node("rect", { x, y: margin.top + innerHeight - h1 - h2, width: barWidth, height: h2, class: "bar-second" }),
      );
    }
    svg.appendChild(group);
    if (index % labelEvery === 0) {
      const text = node("text", { x: x + barWidth / 2, y: height - 6, class: "axis", "text-anchor": "middle" });
      text.textContent = point.label;
      svg.appendChild(text);
    }
  });
  for (const marker of markers) {
    const x = margin.left + Math.min(1, Math.max(0, marker.at)) * innerWidth;
    const group = titled(node("g", { class: "marker" }), marker.title || marker.label);
    group.appendChild(node("line", { x1: x, x2: x, y1: margin.top, y2: margin.top + innerHeight, class: "marker-line" }));
    const text = node("text", { x: x + 3, y: margin.top + 9, class: "marker-label" });
    text.textContent = marker.label;
    group.appendChild(text);
    svg.appendChild(group);
  }
  return svg;
}

function niceCeiling(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

function formatTick(value) {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(1)}M`;
  if (value >= 1_000) return `${(value / 1_000).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(2)));
}
