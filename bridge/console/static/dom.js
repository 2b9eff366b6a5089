// DOM helpers: elements built with DOM APIs, text set as text. Nothing here parses markup.
const SVG = "http://www.w3.org/2000/svg";

// el("td", {class: "x", "data-token": t}, "text", childNode, ...): attribute values and text
// children are set as strings (setAttribute, text nodes), never interpreted as HTML.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
  }
  return node;
}

export function text(node, value) {
  node.textContent = value == null ? "" : String(value);
}

export function clear(node) {
  node.replaceChildren();
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

// The hour's chart: per minute, a blue bar of registrations and a red bar of failures.
export function chart({ start, step, registrations, failures }) {
  const width = 480;
  const height = 80;
  const slot = width / registrations.length;
  const top = Math.max(1, ...registrations, ...failures);
  const root = svg("svg", { id: "chart-svg", width, height: height + 14, viewBox: `0 0 ${width} ${height + 14}`, role: "img" });
  const title = svg("title");
  title.textContent = `registrations and failures per minute, last hour (highest ${top})`;
  root.append(title, svg("line", { x1: 0, y1: height, x2: width, y2: height, class: "axis" }));
  registrations.forEach((count, i) => {
    const minute = new Date((start + i * step) * 1000).toISOString().slice(11, 16);
    for (const [series, value, shift] of [["reg", count, 0], ["fail", failures[i], slot / 2]]) {
      if (!value) continue;
      const h = Math.max(1, (value / top) * (height - 4));
      const bar = svg("rect", { x: i * slot + shift, y: height - h, width: Math.max(1, slot / 2 - 1), height: h, class: series });
      const tip = svg("title");
      tip.textContent = `${minute} UTC: ${value} ${series === "reg" ? "registrations" : "failures"}`;
      bar.append(tip);
      root.append(bar);
    }
  });
  for (const [x, label, anchor] of [[0, "−60 min", "start"], [width, "now", "end"]]) {
    const t = svg("text", { x, y: height + 12, "font-size": 10, "text-anchor": anchor, fill: "#687082" });
    t.textContent = label;
    root.append(t);
  }
  return root;
}
