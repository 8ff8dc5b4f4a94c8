// The explorer page: draws the data that rnnlab.training.explore gathered (inlined in the page as JSON).
// Plain JavaScript, canvas heat strips and SVG lines; no library, no network.
"use strict";
(function () {
  const DIGITS = 4;
  const ROW = 13;  // pixels per labelled row (classes, tags, output steps)
  const PANELS = {classifier: classifierPanel, tagger: taggerPanel, seq2seq: seq2seqPanel, generator: generatorPanel,
                  forecast: forecastPanel};
  // A task kind draws its prediction with PANELS[kind](view, pane) -> {update(column), draw()?}; a new kind adds one
  // entry (draw, if given, runs once the view is in the page, when the panel can take its width).
  const svgNS = "http://www.w3.org/2000/svg";
  const groups = [];
  let active = 0;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmt(v) {
    return v === null || v === undefined ? "n/a" : Number(v).toFixed(DIGITS);
  }

  function significant(v) {  // a gradient spans many orders of magnitude: 4 significant digits
    return v === null || v === undefined ? "n/a" : Number(v).toPrecision(DIGITS);
  }

  function colour(v, signed) {
    // signed: blue (-1) - white (0) - red (+1); else white (0) - dark green (1)
    if (v === null || v === undefined || Number.isNaN(v)) return [200, 200, 200];
    if (signed) {
      const a = Math.max(-1, Math.min(1, v));
      return a >= 0 ? [255, Math.round(255 * (1 - a)), Math.round(255 * (1 - a))]
                    : [Math.round(255 * (1 + a)), Math.round(255 * (1 + a)), 255];
    }
    const a = Math.max(0, Math.min(1, v));
    return [Math.round(255 - 230 * a), Math.round(255 - 140 * a), Math.round(255 - 200 * a)];
  }

  // A heat map of rows x columns, one canvas pixel per cell (scaled by CSS): value(row, column).
  // Labelled rows (labels given) are drawn rowPixels high each, so that each label sits beside its row.
  function heat(rows, cols, value, signed, rowPixels, labelled) {
    const canvas = el("canvas", "strip");
    canvas.width = cols;
    canvas.height = rows;
    canvas.style.height = (labelled ? rows * rowPixels : Math.max(12, Math.min(160, rows * rowPixels))) + "px";
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(cols, rows);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const [red, green, blue] = colour(value(r, c), signed);
        const k = 4 * (r * cols + c);
        image.data[k] = red; image.data[k + 1] = green; image.data[k + 2] = blue; image.data[k + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
    return canvas;
  }

  // Hovering a heat map shows the value under the pointer (its row and column named by describe).
  function hover(canvas, describe) {
    canvas.addEventListener("mousemove", (event) => {
      const rect = canvas.getBoundingClientRect();
      const c = Math.min(canvas.width - 1, Math.floor((event.clientX - rect.left) / rect.width * canvas.width));
      const r = Math.min(canvas.height - 1, Math.floor((event.clientY - rect.top) / rect.height * canvas.height));
      canvas.title = describe(Math.max(0, r), Math.max(0, c));
    });
    return canvas;
  }

  // A row of content beside its label; the content column is where the step cursor runs.
  function row(label, content) {
    const line = el("div", "row");
    line.append(el("div", "row-label", label), content);
    return line;
  }

  function caption(text) {
    return el("p", "caption", text);
  }

  function panel(title) {
    const section = el("section", "panel");
    section.append(el("h4", "", title));
    return section;
  }

  // A strip whose columns are the view's columns, with a cursor on the current one; clicking picks a column.
  function columnsBox(view, group, content) {
    const box = el("div", "columns-box");
    const cursor = el("div", "cursor");
    box.append(content, cursor);
    if (view.boundary !== undefined) {  // a forecaster: where the decoder takes over from the encoder
      const edge = el("div", "boundary");
      edge.style.left = (100 * view.boundary / view.columns.length) + "%";
      box.append(edge);
    }
    box.addEventListener("click", (event) => {
      const rect = box.getBoundingClientRect();
      setStep(group.index, Math.floor((event.clientX - rect.left) / rect.width * view.columns.length));
    });
    return {box, cursor};
  }

  // A heat map with one row per label and one column per view column, the labels beside its rows.
  function labelledHeat(view, group, rowLabels, value, describe) {
    const canvas = hover(heat(rowLabels.length, view.columns.length, value, false, ROW, true), describe);
    const {box, cursor} = columnsBox(view, group, canvas);
    const labels = el("div", "row-labels");
    rowLabels.forEach((label) => labels.append(el("div", "", label)));
    const line = el("div", "row");
    line.append(labels, box);
    return {line, cursor};
  }

  // One cell per view column: the token of a one-step column (a window of steps shows none).
  function tokenStrip(view, tokens) {
    const strip = el("div", "tokens" + (view.columns.length > 60 ? " dense" : ""));
    strip.style.gridTemplateColumns = `repeat(${view.columns.length}, 1fr)`;
    view.columns.forEach(([start, end]) => strip.append(el("span", "tag", end - start === 1 ? tokens[start] : "")));
    return strip;
  }

  function placeCursor(cursor, column, count) {
    cursor.style.left = (100 * column / count) + "%";
    cursor.style.width = (100 / count) + "%";
  }

  function gates(track) {
    return Object.keys(track.series).filter((name) => name !== "h" && name !== "c" && !/^s\d+$/.test(name));
  }

  function chainPanel(view, group, pane) {
    const section = panel("The unfolded chain");
    // a forecaster's steps are numbers, too wide for narrow columns: their values are in each column's title
    const dense = view.columns.length > (view.boundary === undefined ? 60 : 16);
    const tokens = el("div", "tokens" + (dense ? " dense" : ""));
    tokens.style.gridTemplateColumns = `repeat(${view.columns.length}, 1fr)`;
    const steps = view.labels.map((label, k) => {
      const step = el("span", "step", label);
      const [start, end] = view.columns[k];
      step.title = end - start === 1 ? `step ${start + 1}: ${view.tokens[start]}` : `steps ${start + 1}-${end}`;
      step.dataset.column = k;
      step.addEventListener("click", () => setStep(group.index, k));
      tokens.append(step);
      return step;
    });
    section.append(row("input", tokens));
    const strips = el("div", "strips");
    section.append(strips);
    const detail = el("div", "detail");
    section.append(caption(
      "Each column is one copy of the same cell: one time step, reading the input above it. Each strip is one " +
      "vector over time, a row per unit: the hidden state h (blue negative, red positive), for an LSTM its " +
      "cell state c, and each gate from 0 (white) to 1 (green). A forget gate f near 1 keeps the cell state; " +
      "near 0 it wipes it. Click a column, use the slider or the arrow keys to read its numbers below." +
      (view.boundary === undefined ? "" :
        " Left of the dark line the encoder reads the history (each column shows the value it reads); right of " +
        "it the decoder, starting from the encoder's last state, steps through the steps ahead (+1, +2, ...), " +
        "reading only what is known of them in advance (the seasonal naive forecasts, covariates, time of day).")));
    section.append(detail);
    let cursors = [];

    function draw() {
      const track = view.tracks[pane.track];
      strips.replaceChildren();
      cursors = [];
      for (const [name, values] of Object.entries(track.series)) {
        const signed = name === "h" || name === "c" || /^s\d+$/.test(name) || name === "g" || name === "n";
        const canvas = heat(track.units, view.columns.length, (r, c) => values[c][r], signed,
                            Math.max(1, Math.floor(48 / track.units)));
        canvas.dataset.series = name;
        hover(canvas, (r, c) => `${name}, unit ${r}, ${view.labels[c]}: ${fmt(values[c][r])}`);
        const {box, cursor} = columnsBox(view, group, canvas);
        cursors.push(cursor);
        strips.append(row(name, box));
      }
    }

    function update(column) {
      steps.forEach((step, k) => step.classList.toggle("current", k === column));
      cursors.forEach((cursor) => placeCursor(cursor, column, view.columns.length));
      const track = view.tracks[pane.track];
      const [start, end] = view.columns[column];
      const names = Object.keys(track.series);
      const table = el("table", "numbers");
      const head = el("tr");
      head.append(el("th", "", "unit"), ...names.map((name) => el("th", "", name)));
      table.append(head);
      for (let u = 0; u < track.units; u++) {
        const line = el("tr");
        line.append(el("td", "", String(u)));
        for (const name of names) {
          const cell = el("td", "num", fmt(track.series[name][column][u]));
          cell.dataset.series = name;
          cell.dataset.unit = u;
          line.append(cell);
        }
        table.append(line);
      }
      const ahead = view.boundary !== undefined && column >= view.boundary;  // a forecaster's decoder
      const read = ahead ? `the decoder's step ${view.tokens[start]}` : `input ${JSON.stringify(view.tokens[start])}`;
      const what = end - start === 1 ? `step ${start + 1} of ${view.steps}, ${read}`
                                     : `steps ${start + 1}-${end} of ${view.steps} (means over the window)`;
      const title = el("p", "detail-title", `${track.name}, ${what}`);
      title.dataset.column = column;
      const scroll = el("div", "scroll");
      scroll.append(table);
      detail.replaceChildren(title, scroll);
    }

    return {section, draw, update};
  }

  function classifierPanel(view, group) {
    const p = view.prediction;
    const section = panel("The prediction as it forms");
    const {line, cursor} = labelledHeat(view, group, p.labels, (r, c) => p.probabilities[c][r],
                                        (r, c) => `${p.labels[r]}, ${view.labels[c]}: ${fmt(p.probabilities[c][r])}`);
    const now = el("p", "probabilities");
    section.append(line, now, caption(
      "The probability of each class after each step: the model reading only the input so far (a " +
      "bidirectional model reads that prefix both ways). Watch the prediction firm up, or flip, as more " +
      "of the input arrives. The full input gives: " +
      p.final.map(([label, v]) => `${label} ${fmt(v)}`).join(", ") + "."));
    return {section, update(column) {
      placeCursor(cursor, column, view.columns.length);
      const ranked = p.labels.map((label, k) => [label, p.probabilities[column][k]])
        .sort((a, b) => b[1] - a[1]).slice(0, 5);
      now.replaceChildren(el("span", "", `after step ${view.columns[column][1]}: `),
        ...ranked.map(([label, v]) => {
          const span = el("span", "prob", `${label} ${fmt(v)}`);
          span.dataset.label = label;
          return span;
        }));
    }};
  }

  function taggerPanel(view, group) {
    const p = view.prediction;
    const section = panel("The tag of each token");
    const tags = tokenStrip(view, p.tags);
    const {line, cursor} = labelledHeat(view, group, p.labels, (r, c) => p.probabilities[c][r],
                                        (r, c) => `${p.labels[r]}, ${view.labels[c]}: ${fmt(p.probabilities[c][r])}`);
    const now = el("p", "probabilities");
    section.append(row("tag", tags), line, now, caption(
      "Each token's tag distribution (darker is more probable). A bidirectional tagger has read the whole " +
      "sentence at every token, so a tag can depend on the words to its right as well as its left."));
    return {section, update(column) {
      placeCursor(cursor, column, view.columns.length);
      const ranked = p.labels.map((label, k) => [label, p.probabilities[column][k]])
        .sort((a, b) => b[1] - a[1]).slice(0, 3);
      now.replaceChildren(el("span", "", `${view.labels[column]}: `),
        ...ranked.map(([label, v]) => el("span", "prob", `${label} ${fmt(v)}`)));
    }};
  }

  function seq2seqPanel(view, group) {
    const p = view.prediction;
    const section = panel("Attention and the decoder's steps");
    const {line, cursor} = labelledHeat(
      view, group, p.outputs.map((out, k) => `${out} ${Number(p.probabilities[k]).toFixed(2)}`),
      (r, c) => p.attention[r][c], (r, c) => `${p.outputs[r]} looks at ${view.labels[c]}: ${fmt(p.attention[r][c])}`);
    const now = el("p", "probabilities");
    section.append(line, now, caption(
      "Rows: the decoder's output steps (greedy decoding), each with its probability; columns: the input " +
      "letters. A row shows which letters that output looked at; a trained model moves along a rough " +
      "diagonal, reading the spelling in order."));
    return {section, update(column) {
      placeCursor(cursor, column, view.columns.length);
      const ranked = p.outputs.map((out, k) => [out, p.attention[k][column]]).sort((a, b) => b[1] - a[1]).slice(0, 3);
      now.replaceChildren(el("span", "", `${view.labels[column]} is read most by: `),
        ...ranked.map(([out, v]) => el("span", "prob", `${out} ${fmt(v)}`)));
    }};
  }

  function generatorPanel(view, group) {
    const p = view.prediction;
    const section = panel("The next letter, step by step");
    const next = tokenStrip(view, p.next);
    const {line, cursor} = labelledHeat(view, group, p.labels, (r, c) => p.probabilities[c][r],
                                        (r, c) => `${p.labels[r]} after ${view.labels[c]}: ${fmt(p.probabilities[c][r])}`);
    const now = el("p", "probabilities");
    section.append(row("next", next), line, now, caption(
      "At every step the model reads one letter (the first step reads the start mark <s>) and gives the " +
      "distribution of the next one; the row above is the letter that actually follows. Rows: the letters " +
      `that are among the three most probable at some step. The word's perplexity: ${fmt(p.perplexity)} per letter.`));
    return {section, update(column) {
      placeCursor(cursor, column, view.columns.length);
      const [start] = view.columns[column];
      const ranked = p.labels.map((label, k) => [label, p.probabilities[column][k]])
        .sort((a, b) => b[1] - a[1]).slice(0, 3);
      now.replaceChildren(el("span", "", `after ${view.labels[column]}: next ${p.next[start]} `),
        el("span", "prob", fmt(p.next_probability[start])), el("span", "", "most probable: "),
        ...ranked.map(([label, v]) => el("span", "prob", `${label} ${fmt(v)}`)));
    }};
  }

  // A forecaster: the history it read, then the median forecast with its 80% and 95% bands (and the truth, if known).
  function forecastPanel(view, group) {
    const p = view.prediction;
    const section = panel("The forecast and its bands");
    const holder = el("div", "plot forecast");
    const now = el("p", "probabilities");
    const L = p.history.length, H = p.median.length, T = L + H;
    section.append(holder, now, caption(
      `"${p.target}": the ${L} steps of history the encoder read (grey), then the median forecast of the ${H} ` +
      "steps ahead (red) inside its central 80% band (dark) and 95% band (light): the model gives each step a " +
      `${p.distribution} distribution, and the bands are its quantiles, as rnnlab predict writes them. ` +
      (p.truth ? "The black dashed line is what really happened." : "The file holds no truth for these steps.")));
    let marker = null;
    let W = 600;
    const HEIGHT = 170, LEFT = 56, BOTTOM = 18;
    const all = p.history.concat(p.bands["95"][0], p.bands["95"][1], p.truth || []).filter((v) => v !== null);
    const low = Math.min(...all), high = Math.max(...all), span = (high - low) || 1;
    const x = (t) => LEFT + (T === 1 ? 0.5 : t / (T - 1)) * (W - LEFT - 4);
    const y = (v) => 4 + (HEIGHT - BOTTOM - 4) * (1 - (v - low) / span);

    function svg(tag, attributes) {
      const node = document.createElementNS(svgNS, tag);
      for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
      return node;
    }

    function points(values, offset) {
      return values.map((v, k) => `${x(offset + k).toFixed(1)},${y(v).toFixed(1)}`);
    }

    function path(values, offset) {
      return points(values, offset).join(" ");
    }

    function label(xAt, yAt, content, anchor) {
      const node = svg("text", {x: xAt, y: yAt, "font-size": 10, "text-anchor": anchor || "end"});
      node.textContent = content;
      return node;
    }

    function draw() {
      W = Math.max(300, holder.clientWidth || 600);
      const plot = svg("svg", {viewBox: `0 0 ${W} ${HEIGHT}`, width: W, height: HEIGHT, class: "forecast"});
      for (const v of [low, (low + high) / 2, high]) {
        plot.append(label(LEFT - 4, y(v) + 3, Number(v).toLocaleString("en", {maximumSignificantDigits: 4})));
      }
      const first = p.times ? p.times[0] : "step 1";
      const last = p.times ? p.times[T - 1] : `+${H}`;
      plot.append(label(LEFT, HEIGHT - 4, first, "start"), label(W - 4, HEIGHT - 4, last));
      for (const [level, fill] of [["95", "#f6d5d1"], ["80", "#eaa79f"]]) {
        const [lower, upper] = p.bands[level];
        const outline = points(upper, L).concat(points(lower, L).reverse()).join(" ");
        plot.append(svg("polygon", {points: outline, fill, stroke: "none", class: `band band-${level}`}));
      }
      plot.append(svg("line", {x1: x(L - 0.5), x2: x(L - 0.5), y1: 4, y2: HEIGHT - BOTTOM, stroke: "#444"}));
      plot.append(svg("polyline", {points: path(p.history, 0), fill: "none", stroke: "#777", "stroke-width": 1.5,
                                   class: "history"}));
      plot.append(svg("polyline", {points: path([p.history[L - 1], ...p.median], L - 1), fill: "none",
                                   stroke: "#c0392b", "stroke-width": 1.8, class: "median"}));
      if (p.truth) {
        plot.append(svg("polyline", {points: path(p.truth, L), fill: "none", stroke: "#111", "stroke-width": 1.2,
                                     "stroke-dasharray": "4 3", class: "truth"}));
      }
      marker = svg("line", {y1: 4, y2: HEIGHT - BOTTOM, stroke: "#c90", "stroke-width": 2});
      plot.append(marker);
      holder.replaceChildren(plot);
    }

    function value(name, v) {
      const span = el("span", "prob", name ? `${name} ${fmt(v)}` : fmt(v));
      span.dataset.value = name;
      return span;
    }

    return {section, draw, update(column) {
      const [start, end] = view.columns[column];
      const middle = (start + end - 1) / 2;
      if (marker) { marker.setAttribute("x1", x(middle)); marker.setAttribute("x2", x(middle)); }
      const when = p.times ? ` (${p.times[start]})` : "";
      if (start < L) {
        now.replaceChildren(el("span", "", `history step ${start + 1} of ${L}${when}: `), value("value", p.history[start]));
        return;
      }
      const k = start - L;
      const parts = [el("span", "", `+${k + 1}${when}: `), value("median", p.median[k]),
                     value("80%", p.bands["80"][0][k]), el("span", "", "to "), value("", p.bands["80"][1][k]),
                     value("95%", p.bands["95"][0][k]), el("span", "", "to "), value("", p.bands["95"][1][k])];
      if (p.truth) parts.push(value("truth", p.truth[k]));
      now.replaceChildren(...parts);
    }};
  }

  function gradientPanel(view, group, pane) {
    const section = panel("The gradient through time");
    const holder = el("div", "plot");
    const note = el("p", "shuffled");
    section.append(holder, note, caption(
      `||dL/dh_t|| at every step t (log scale), where ${view.loss}: how strongly the loss still feels ` +
      "each step's state through all the later copies of the cell. It typically shrinks going away from " +
      "where the loss reads the state: memory fades. The dashed line is the same input with its steps " +
      (view.family === "generation"
        ? "shuffled, scored on its own letters; its perplexity, below, shows whether order matters."
        : view.family === "forecast"
        ? "shuffled (each history step keeps its own values), scored on the same targets. Here the loss reads " +
          "the decoder's states, the steps ahead at the right; going back from the origin into the history it fades."
        : "shuffled, asked for the same prediction; what the model predicts for it shows whether order matters.")));
    const glue = ["text", "transcription", "generation"].includes(view.family) ? "" : " ";  // letters, or words
    const copy = view.family === "forecast" ? `the ${view.prediction.origin} history steps in a random order`
                                            : view.shuffled.tokens.join(glue);
    note.textContent = `shuffled: ${copy} -> ${view.shuffled.prediction}`;
    let marker = null;
    let W = 600;
    const H = 150, L = 56, B = 18;

    function line(values, dash, colourName, low, high) {
      const T = values.length;
      const points = values.map((v, t) => {
        const x = L + (T === 1 ? 0.5 : t / (T - 1)) * (W - L - 4);
        const y = 4 + (H - B - 4) * (1 - (Math.log10(Math.max(v || 0, low)) - Math.log10(low)) /
                                    Math.max(1e-9, Math.log10(high) - Math.log10(low)));
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      });
      const poly = document.createElementNS(svgNS, "polyline");
      poly.setAttribute("points", points.join(" "));
      poly.setAttribute("fill", "none");
      poly.setAttribute("stroke", colourName);
      poly.setAttribute("stroke-width", "1.5");
      if (dash) poly.setAttribute("stroke-dasharray", "4 3");
      return poly;
    }

    function text(x, y, content, anchor) {
      const node = document.createElementNS(svgNS, "text");
      node.setAttribute("x", x); node.setAttribute("y", y); node.setAttribute("font-size", "10");
      node.setAttribute("text-anchor", anchor || "end");
      node.textContent = content;
      return node;
    }

    function draw() {
      const track = view.tracks[pane.track];
      const all = track.gradient.concat(track.gradient_shuffled).filter((v) => v > 0);
      const high = all.length ? Math.max(...all) : 1;
      const low = all.length ? Math.max(Math.min(...all), high * 1e-12) : 1e-12;
      W = Math.max(300, holder.clientWidth || 600);
      const svg = document.createElementNS(svgNS, "svg");
      svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
      svg.setAttribute("width", W);
      svg.setAttribute("height", H);
      svg.setAttribute("class", "gradient");
      const decades = [];
      for (let e = Math.ceil(Math.log10(low)); e <= Math.floor(Math.log10(high)); e++) decades.push(e);
      const ticks = decades.length >= 2 ? decades.map((e) => [Math.pow(10, e), `1e${e}`])
                                        : [[low, low.toExponential(1)], [high, high.toExponential(1)]];
      for (const [value, label] of ticks) {
        const y = 4 + (H - B - 4) * (1 - (Math.log10(value) - Math.log10(low)) /
                                     Math.max(1e-9, Math.log10(high) - Math.log10(low)));
        svg.append(text(L - 4, y + 3, label));
      }
      svg.append(text(L, H - 4, "step 1", "start"), text(W - 4, H - 4, `step ${view.steps}`));
      svg.append(line(track.gradient, false, "#c0392b", low, high));
      svg.append(line(track.gradient_shuffled, true, "#2c3e50", low, high));
      if (view.prediction.kind === "forecast") {  // the origin: the encoder's history to the left
        const at = L + ((view.prediction.origin - 0.5) / Math.max(1, view.steps - 1)) * (W - L - 4);
        const origin = document.createElementNS(svgNS, "line");
        origin.setAttribute("x1", at); origin.setAttribute("x2", at);
        origin.setAttribute("y1", 4); origin.setAttribute("y2", H - B);
        origin.setAttribute("stroke", "#222");
        svg.append(origin);
      }
      marker = document.createElementNS(svgNS, "line");
      marker.setAttribute("y1", 4); marker.setAttribute("y2", H - B);
      marker.setAttribute("stroke", "#999");
      svg.append(marker);
      holder.replaceChildren(svg);
    }

    function update(column) {
      const track = view.tracks[pane.track];
      const [start, end] = view.columns[column];
      const middle = (start + end - 1) / 2;
      const x = L + (view.steps === 1 ? 0.5 : middle / (view.steps - 1)) * (W - L - 4);
      marker.setAttribute("x1", x); marker.setAttribute("x2", x);
      const value = el("span", "grad-value", significant(track.gradient[start]));
      value.dataset.step = start;
      holder.dataset.step = start;
      const existing = section.querySelector(".grad-now");
      const now = existing || el("p", "grad-now");
      now.replaceChildren(el("span", "", `||dL/dh|| at step ${start + 1}: `), value,
                          el("span", "", ` (shuffled input: ${significant(track.gradient_shuffled[start])})`));
      if (!existing) holder.after(now);
    }

    return {section, draw, update};
  }

  function renderView(view, group) {
    const pane = {track: 0};
    const node = el("div", "view");
    const head = el("div", "view-head");
    head.append(el("h3", "view-title", `${view.run || "untrained"} · ${view.task} · ${view.cell}`));
    const select = el("select", "track");
    view.tracks.forEach((track, k) => {
      const option = el("option", "", `layer ${track.layer}, ${track.direction}`);
      option.value = k;
      select.append(option);
    });
    head.append(select);
    node.append(head);
    const chain = chainPanel(view, group, pane);
    const grad = gradientPanel(view, group, pane);
    const maker = PANELS[view.prediction.kind];
    const predicted = maker ? maker(view, group, pane) : null;
    chain.section.classList.add("chain");
    const side = el("div", "side");
    if (predicted) side.append(predicted.section);
    side.append(grad.section);
    node.append(chain.section, side);
    const api = {
      columns: view.columns.length,
      draw() {  // once the view is in the page: the plot takes its width
        chain.draw();
        grad.draw();
        if (predicted && predicted.draw) predicted.draw();
      },
      update(column) {
        const c = Math.min(column, view.columns.length - 1);
        chain.update(c);
        grad.update(c);
        if (predicted) predicted.update(c);
      },
    };
    select.addEventListener("change", () => {
      pane.track = Number(select.value);
      chain.draw();
      grad.draw();
      api.update(group.column);
    });
    return {node, api};
  }

  function renderGroup(data, index, root) {
    const group = {index, column: 0, views: []};
    const node = el("div", "group");
    const input = data.input.length > 200 ? data.input.slice(0, 200) + "..." : data.input;
    node.append(el("h2", "group-title", `Input: ${input}`));
    const controls = el("div", "controls");
    const slider = el("input", "time");
    slider.type = "range";
    slider.min = 0;
    slider.value = 0;
    const label = el("span", "step-label");
    controls.append(el("span", "", "time step "), slider, label);
    node.append(controls);
    const views = el("div", data.views.length > 1 ? "views compare" : "views");
    for (const view of data.views) {
      const {node: viewNode, api} = renderView(view, group);
      views.append(viewNode);
      group.views.push({api, view});
    }
    slider.max = Math.max(...group.views.map((v) => v.api.columns)) - 1;
    node.append(views);
    root.append(node);
    group.views.forEach(({api}) => api.draw());
    group.slider = slider;
    group.label = label;
    slider.addEventListener("input", () => setStep(index, Number(slider.value)));
    node.addEventListener("pointerdown", () => { active = index; });
    groups.push(group);
    setStep(index, 0);
  }

  function setStep(index, column) {
    const group = groups[index];
    if (!group) return;
    const c = Math.max(0, Math.min(Number(group.slider.max), column));
    group.column = c;
    active = index;
    group.slider.value = c;
    const first = group.views[0].view;
    const [start, end] = first.columns[Math.min(c, first.columns.length - 1)];
    group.label.textContent = end - start === 1 ? `${start + 1} of ${first.steps}: ${first.tokens[start]}`
                                                : `${start + 1}-${end} of ${first.steps}`;
    group.views.forEach(({api}) => api.update(c));
  }

  function render(data) {
    const root = document.getElementById("explorer");
    root.replaceChildren();
    groups.length = 0;
    active = 0;
    data.groups.forEach((group, k) => renderGroup(group, k, root));
  }

  document.addEventListener("keydown", (event) => {
    const tag = (event.target && event.target.tagName) || "";
    if (tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && event.target.type !== "range")) return;
    const group = groups[active];
    if (!group) return;
    const moves = {ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity};
    if (!(event.key in moves)) return;
    event.preventDefault();
    const target = Number.isFinite(moves[event.key]) ? group.column + moves[event.key]
                                                      : (moves[event.key] > 0 ? Number(group.slider.max) : 0);
    setStep(active, target);
  });

  function live() {
    const form = document.getElementById("live");
    if (!form) return;
    const error = form.querySelector(".error");
    const result = form.querySelector(".live-prediction");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const input = form.querySelector("textarea").value;
      try {
        const response = await fetch("api/explore", {method: "POST", headers: {"Content-Type": "application/json"},
                                                     body: JSON.stringify({input})});
        const answer = await response.json();
        if (!response.ok) { error.textContent = answer.error || response.statusText; return; }
        result.textContent = answer.prediction;
        render({groups: [answer.group]});
      } catch (failure) {
        error.textContent = String(failure);
      }
    });
  }

  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  render(data);
  live();
  window.rnnlabExplorer = {setStep, render, drawnAt: null};
  // drawn: the first frame painted after the script built the page
  requestAnimationFrame(() => requestAnimationFrame(() => { window.rnnlabExplorer.drawnAt = performance.now(); }));
})();
