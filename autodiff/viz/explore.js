// The page autodiff.explore writes: step through backward, forwards and back, and read any node's numbers.
//
// Step k shows every node's gradient as it stood once steps 1..k were done: the gradient recorded by
// the last of those steps that changed the node, else what it showed before backward (data.nodes[i].grad0).
// Nothing is computed here: every number was recorded in Python by the engine's own arithmetic.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("explore-data").textContent);
  const nodes = data.nodes;
  const steps = data.steps;
  const byDot = new Map(nodes.map((node, i) => [node.dot, i]));
  const MIN_TEXT_PX = 12;  // no text of a drawing smaller than this, unless the learner zooms out
  const MAX_SCALE = 2.5;   // a small graph grows to fill its room, up to this

  // changes[i]: the steps (numbered from 1) whose target is node i, in order
  const changes = nodes.map(() => []);
  steps.forEach((step, k) => changes[step.target].push(k + 1));

  // drawings[v][layout]: the element holding view v drawn in that layout, and its parts by dot's name
  const drawings = data.views.map(() => ({}));
  document.querySelectorAll("#views .view").forEach((element) => {
    const titled = new Map();
    element.querySelectorAll("g.node, g.edge").forEach((g) => {
      const title = g.querySelector(":scope > title");
      if (title && !titled.has(title.textContent)) titled.set(title.textContent, g);
    });
    const svg = element.querySelector("svg");
    const fonts = Array.from(svg.querySelectorAll("text")).map((t) => parseFloat(t.getAttribute("font-size")) || 14);
    drawings[Number(element.dataset.view)][element.dataset.layout] = {
      element, svg, titled,
      width: parseFloat(svg.getAttribute("width")) * 4 / 3,  // dot writes points; CSS pixels are 3/4 of one
      height: parseFloat(svg.getAttribute("height")) * 4 / 3,
      smallestFont: Math.min(...fonts) * 4 / 3,
    };
  });
  // boxOf[v][i]: the dot name of the closed box that holds node i in view v, if one does
  const boxOf = data.views.map((view) => {
    const held = {};
    view.boxes.forEach((box) => box.nodes.forEach((i) => { held[i] = box.dot; }));
    return held;
  });

  let current = 0;
  let view = 0;
  let layout = data.views[0].layouts[0];
  let selected = null;
  let zoom = 1;         // the learner's zoom, on top of the scale that fits the window
  let asking = null;    // in exercise mode, the step whose result the page is asking for
  let hinted = false;

  function number(x) {
    // non-finite numbers travel as the strings "NaN", "Infinity" and "-Infinity"
    if (Array.isArray(x)) return x.map(number);
    return typeof x === "string" ? Number(x) : x;
  }

  function gradAt(i, k) {
    const list = changes[i];
    let low = 0;
    let high = list.length;  // find how many of node i's steps are done by step k
    while (low < high) {
      const middle = (low + high) >> 1;
      if (list[middle] <= k) low = middle + 1; else high = middle;
    }
    return low === 0 ? nodes[i].grad0 : steps[list[low - 1] - 1].grad;
  }

  function drawing(v = view) {
    return drawings[v][layout] || drawings[v][data.views[v].layouts[0]];
  }

  // the name dot gave to what shows node i in the view: its own record, or the closed box holding it
  function shownAs(i, v = view) {
    return boxOf[v][i] || nodes[i].dot;
  }

  function isDrawn(i, v = view) {
    return boxOf[v][i] === undefined;
  }

  function element(dotName, v = view) {
    return drawing(v).titled.get(dotName) || null;
  }

  function edgeElement(step) {
    // the edge from the step's target into the operation of the node passing its gradient down
    if (step.position === null) return null;
    const prefix = `v${view}${drawing().element.dataset.layout[0]}-`;
    if (isDrawn(step.node)) {
      const byId = document.getElementById(`${prefix}${nodes[step.node].dot}:${step.position}`);
      if (byId) return byId;
    }
    const head = isDrawn(step.node) ? `${nodes[step.node].dot}_op` : shownAs(step.node);
    const tail = shownAs(step.target);
    return tail === head ? null : element(`${tail}->${head}`);
  }

  function resultEdge(step) {
    // the edge from the operation to the record of the node passing its gradient down
    if (step.position === null || !isDrawn(step.node)) return null;
    const prefix = `v${view}${drawing().element.dataset.layout[0]}-`;
    return document.getElementById(`${prefix}${nodes[step.node].dot}:out`);
  }

  // -- lights ------------------------------------------------------------------------------------

  const LIGHTS = ["lit-target", "lit-source", "lit-op", "lit-edge"];

  function clearLights() {
    Object.values(drawings[view]).forEach((d) => {
      d.element.querySelectorAll(LIGHTS.map((c) => "." + c).join(", ")).forEach((g) => g.classList.remove(...LIGHTS));
      d.element.querySelectorAll(".edge-label").forEach((label) => label.remove());
    });
  }

  function showGradients(k, hidden) {
    nodes.forEach((node, i) => {
      if (!isDrawn(i)) return;
      const g = element(node.dot);
      if (!g) return;
      const texts = g.querySelectorAll(":scope > text");
      const field = texts[texts.length - 1];  // a record's last field is always its gradient
      field.textContent = `grad ${i === hidden ? "?" : gradAt(i, k).text}`;
    });
  }

  function light(k) {
    const viewsElement = document.getElementById("views");
    viewsElement.classList.toggle("accumulate", k > 0 && steps[k - 1].kind === "accumulate");
    if (k === 0) return;
    const step = steps[k - 1];
    const mark = (g, name) => { if (g) g.classList.add(name); };
    mark(element(shownAs(step.node)), "lit-source");
    if (isDrawn(step.node) && nodes[step.node].inputs.length) mark(element(`${nodes[step.node].dot}_op`), "lit-op");
    const target = element(shownAs(step.target));
    mark(target, "lit-target");
    const edge = edgeElement(step);
    mark(edge, "lit-edge");
    mark(resultEdge(step), "lit-edge");
    // while the exercise asks for this step, the local derivative is part of the hint
    const label = edge && step.local && (asking !== k || hinted) ? labelEdge(edge, step.local) : null;
    follow(target, label);
  }

  function labelEdge(edge, text) {
    // the local derivative, beside the middle of the lit edge on a white ground, where it covers the least
    const path = edge.querySelector(":scope > path");
    if (!path) return null;
    const svgNS = "http://www.w3.org/2000/svg";
    const group = document.createElementNS(svgNS, "g");
    group.setAttribute("class", "edge-label");
    const ground = document.createElementNS(svgNS, "rect");
    const label = document.createElementNS(svgNS, "text");
    label.setAttribute("font-size", "12");
    label.setAttribute("dominant-baseline", "central");
    label.textContent = text;
    group.append(ground, label);
    edge.parentNode.appendChild(group);  // last, so it is drawn above every edge and node
    const size = label.getBBox();
    const width = size.width + 6;
    const height = size.height + 2;
    const obstacles = Array.from(edge.parentNode.querySelectorAll(":scope > g.node")).map((g) => g.getBBox());
    const overlap = (x, y, b) => Math.max(0, Math.min(x + width, b.x + b.width) - Math.max(x, b.x)) *
      Math.max(0, Math.min(y + height, b.y + b.height) - Math.max(y, b.y));
    const whole = edge.ownerSVGElement.viewBox.baseVal;
    const origin = edge.parentNode.transform.baseVal.consolidate();  // dot moves the drawing down its height
    const inside = { x: whole.x - (origin ? origin.matrix.e : 0), y: whole.y - (origin ? origin.matrix.f : 0),
                     width: whole.width, height: whole.height };
    // what a place covers of the nodes, and ten times what of the label would fall outside the drawing
    const covered = (x, y) => obstacles.reduce((sum, b) => sum + overlap(x, y, b), 0) +
      10 * (width * height - overlap(x, y, inside));
    const length = path.getTotalLength();
    let best = null;
    const places = [[6, -height / 2], [-width - 6, -height / 2], [-width / 2, -height - 6], [-width / 2, 6],
                    [-width / 2, -height - 30], [-width / 2, 30], [-width / 2, -height - 60], [-width / 2, 60]];
    [0.5, 0.35, 0.65, 0.2, 0.8].forEach((along) => {
      const at = path.getPointAtLength(length * along);
      places.forEach(([dx, dy], n) => {
        const x = at.x + dx;
        const y = at.y + dy;
        const cost = covered(x, y) + n;  // of two free places, the nearer the edge
        if (best === null || cost < best.cost - 1e-6) best = { x, y, cost };
      });
    });
    ground.setAttribute("x", best.x);
    ground.setAttribute("y", best.y);
    ground.setAttribute("width", width);
    ground.setAttribute("height", height);
    ground.setAttribute("rx", 3);
    label.setAttribute("x", best.x + 3);
    label.setAttribute("y", best.y + height / 2);
    return group;
  }

  function follow(target, label) {
    // scroll the drawing alone, never the page, as little as brings the step into sight: with the graph's
    // inputs and the local derivative written on its edge where the frame holds them all, else with what
    // it can hold of them, the inputs first
    if (!target) return;
    const frame = document.getElementById("views");
    const area = frame.getBoundingClientRect();
    const margin = 12;
    const room = { width: frame.clientWidth - 2 * margin, height: frame.clientHeight - 2 * margin };
    const boxes = (elements) => elements.filter(Boolean).map((g) => g.getBoundingClientRect());
    const union = (rects) => rects.reduce((a, b) => ({
      left: Math.min(a.left, b.left), right: Math.max(a.right, b.right),
      top: Math.min(a.top, b.top), bottom: Math.max(a.bottom, b.bottom),
    }));
    const inputs = data.inputs.filter((i) => isDrawn(i)).map((i) => element(nodes[i].dot));
    const wanted = [[target, label, ...inputs], [target, ...inputs], [target, label], [target]]
      .map((group) => union(boxes(group)))
      .find((u) => u.right - u.left <= room.width && u.bottom - u.top <= room.height)
      || union(boxes([target]));
    const shift = (low, high, start, end) => {
      if (low < start + margin) return low - start - margin;
      if (high > end - margin) return Math.min(high - end + margin, low - start - margin);
      return 0;
    };
    frame.scrollLeft += shift(wanted.left, wanted.right, area.left, area.left + frame.clientWidth);
    frame.scrollTop += shift(wanted.top, wanted.bottom, area.top, area.top + frame.clientHeight);
  }

  // -- the step, its text and the list around it -------------------------------------------------

  function showStepText() {
    const text = document.getElementById("step-text");
    const shown = asking !== null ? asking - 1 : current;
    text.classList.toggle("accumulate", shown > 0 && steps[shown - 1].kind === "accumulate");
    text.classList.toggle("before", shown === 0 && asking === null);
    text.hidden = asking !== null;
    text.textContent = current === 0
      ? "Before backward: press forward (→) to start with the seed."
      : `${current}. ${steps[current - 1].text}`;
    document.getElementById("counter").textContent = `step ${current} of ${steps.length}`;
    document.getElementById("slider").value = String(current);
    document.getElementById("first").disabled = document.getElementById("back").disabled = current === 0;
    document.getElementById("last").disabled = document.getElementById("forward").disabled =
      current === steps.length || asking !== null;
    const list = document.getElementById("step-list");
    list.replaceChildren();
    const lines = window.innerHeight < 700 ? 0 : window.innerHeight < 900 ? 3 : 5;
    const first = Math.max(1, Math.min(current - Math.floor(lines / 2), steps.length - lines + 1));
    for (let k = Math.max(first, 1); k < first + lines && k <= steps.length; k++) {
      const item = document.createElement("li");
      const hidden = exercising() && k > current;
      item.textContent = hidden ? `${k}. ${steps[k - 1].ask ? steps[k - 1].ask.question + " = ?" : "…"}`
                                : `${k}. ${steps[k - 1].text}`;
      item.title = item.textContent;
      if (k === current) item.className = "current";
      item.addEventListener("click", () => go(k));
      list.appendChild(item);
    }
  }

  function go(k) {
    feedback("");
    asking = null;
    current = Math.max(0, Math.min(steps.length, k));
    render();
  }

  function render() {
    // the page as the state says: the gradients after step `current`, and the step shown, or asked about
    clearLights();
    showGradients(current, asking === null ? null : steps[asking - 1].target);
    showQuestion();
    showStepText();  // before the lights: its text may take another line, and the drawing's frame is then smaller
    light(asking === null ? current : asking);
    if (selected !== null) showDetails(selected);
  }

  // -- the exercise ------------------------------------------------------------------------------

  function exercising() {
    return document.getElementById("exercise").checked;
  }

  function forward() {
    // in exercise mode a step with a number to work out is asked before it is shown
    const next = current + 1;
    if (next > steps.length) return;
    if (exercising() && steps[next - 1].ask) ask(next); else go(next);
  }

  function ask(k) {
    asking = k;
    hinted = false;
    render();
    document.getElementById("answer").value = "";
    document.getElementById("verdict").textContent = "";
    document.getElementById("answer").focus();
  }

  function showQuestion() {
    const form = document.getElementById("question");
    form.hidden = asking === null;
    if (asking === null) return;
    const question = steps[asking - 1].ask;
    document.getElementById("question-text").textContent =
      `${asking}. ${question.question} = ${hinted ? question.working + " = " : ""}`;
  }

  function agrees(guess, answer) {
    // right to 3 significant digits: within half a unit of the answer's third significant digit
    if (!Number.isFinite(answer)) return Object.is(guess, answer) || (Number.isNaN(guess) && Number.isNaN(answer));
    if (answer === 0) return guess === 0;
    const unit = Math.pow(10, Math.floor(Math.log10(Math.abs(answer))) - 2);
    return Math.abs(guess - answer) <= unit / 2 * (1 + 1e-9) || guess.toPrecision(3) === answer.toPrecision(3);
  }

  function check(event) {
    event.preventDefault();
    if (asking === null) return;
    const written = document.getElementById("answer").value.trim().replace("−", "-");
    const guess = written === "" ? NaN : Number(written);
    const verdict = document.getElementById("verdict");
    const answer = number(steps[asking - 1].ask.answer);
    if (Number.isNaN(guess) && !Number.isNaN(answer)) {
      verdict.textContent = `"${written}" is not a number: write it as 0.25, -1.5 or 2e-3.`;
      verdict.className = "wrong";
      return;
    }
    if (agrees(guess, answer)) {
      go(asking);
      feedback(`Right: ${written} (backward computes ${steps[current - 1].text.split(" = ").pop()}).`);
    } else {
      verdict.textContent = `${written} is not right to 3 significant digits. Try again` +
        (hinted ? ", or press show me." : ", or press hint.");
      verdict.className = "wrong";
    }
  }

  function feedback(text) {
    const said = document.getElementById("feedback");
    said.textContent = text;
    said.hidden = !text;
  }

  // -- views -------------------------------------------------------------------------------------

  function showView(v) {
    clearLights();
    Object.values(drawings[view]).forEach((d) => { d.element.hidden = true; });
    view = v;
    chooseLayout();
    const line = lineage(v);
    const top = line.length > 1 ? line[1] : line[0];  // the button of the view this one was opened from
    document.querySelectorAll("#view-buttons button").forEach((button) => {
      button.classList.toggle("current", Number(button.dataset.view) === top);
    });
    showViewPath();
    markSelected();
    render();
  }

  function lineage(v) {
    const line = [];
    for (let at = v; at !== null && at !== undefined; at = data.views[at].parent) line.unshift(at);
    return line;
  }

  function showViewPath() {
    const path = document.getElementById("view-path");
    path.replaceChildren();
    const line = lineage(view);
    if (line.length < 3) return;  // the buttons say it all
    line.forEach((v, n) => {
      if (n) path.appendChild(document.createTextNode(" › "));
      const link = add(path, "a", data.views[v].name);
      if (v === view) link.className = "current"; else link.addEventListener("click", () => showView(v));
    });
  }

  // -- fitting the drawing to the window -----------------------------------------------------------

  function fit(d, room) {
    // the scale that shows the whole drawing, within what keeps its smallest text readable and MAX_SCALE
    const readable = MIN_TEXT_PX / d.smallestFont;
    const whole = Math.min(room.width / d.width, room.height / d.height);
    const across = room.width / d.width;
    const scale = Math.max(readable, Math.min(whole, MAX_SCALE, Math.max(across, readable)));
    return { scale, overflowX: d.width * scale > room.width + 1, overflowY: d.height * scale > room.height + 1 };
  }

  function room() {
    const frame = document.getElementById("views");
    const style = getComputedStyle(frame);
    return {
      width: frame.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
      height: frame.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom),
    };
  }

  function chooseLayout() {
    // the layout that needs no sideways scrolling, then none at all, then shows the most
    const space = room();
    const ranked = data.views[view].layouts.map((name) => ({ name, ...fit(drawings[view][name], space) }))
      .sort((a, b) => (a.overflowX - b.overflowX) || (a.overflowY - b.overflowY) || (b.scale - a.scale));
    layout = ranked[0].name;
    Object.entries(drawings[view]).forEach(([name, d]) => { d.element.hidden = name !== layout; });
    applyScale(ranked[0].scale);
  }

  function applyScale(scale) {
    const d = drawing();
    const shown = scale * zoom;
    d.svg.style.width = `${d.width * shown}px`;
    d.svg.style.height = `${d.height * shown}px`;
    d.scale = shown;
  }

  function refit() {
    chooseLayout();
    render();
  }

  // -- a node's details --------------------------------------------------------------------------

  function add(parent, tag, text, className) {
    const child = document.createElement(tag);
    if (text !== undefined) child.textContent = text;
    if (className) child.className = className;
    parent.appendChild(child);
    return child;
  }

  function table(parent, described) {
    const t = add(parent, "table");
    described.rows.forEach((row) => {
      const tr = add(t, "tr");
      row.forEach((cell) => add(tr, "td", cell));
    });
    add(parent, "div", described.summary, "summary");
  }

  function nodeLinks(parent, indices) {
    const list = add(parent, "ul");
    indices.forEach((i) => {
      const link = add(add(list, "li"), "a", nodes[i].name);
      link.addEventListener("click", () => select(i));
    });
  }

  function showDetails(i) {
    const node = nodes[i];
    const panel = document.getElementById("details");
    panel.replaceChildren();
    panel.classList.add("open");
    const close = add(panel, "button", "×", "close");
    close.type = "button";
    close.title = "close";
    close.addEventListener("click", () => { selected = null; markSelected(); panel.classList.remove("open"); });
    add(panel, "h2", node.name);
    const facts = add(panel, "dl");
    const fact = (name, value) => { add(facts, "dt", name); return add(facts, "dd", value); };
    fact("kind", node.kind);
    fact("operation", node.op || "none: a leaf");
    const hiddenHere = asking !== null && steps[asking - 1].target === i;
    const grad = hiddenHere ? { text: "?" } : gradAt(i, current);
    if (node.shape) {
      fact("shape", `(${node.shape.join(", ")}${node.shape.length === 1 ? "," : ""}) ${node.dtype}`);
    } else {
      fact("data", node.data.text).title = String(number(node.data.value));
      const shown = fact(`grad at step ${current}`, grad.text);
      if (grad.value !== undefined) shown.title = String(number(grad.value));
    }
    if (node.shape) {
      add(panel, "h3", "data");
      table(panel, node.data);
      add(panel, "h3", `grad at step ${current}`);
      if (grad.table) table(panel, grad.table); else add(panel, "div", grad.text, "summary");
    }
    if (node.inputs.length) {
      add(panel, "h3", "local derivatives, d(this)/d(input)");
      const list = add(panel, "ul");
      node.inputs.forEach((input, position) => {
        add(list, "li", `${nodes[input].name} (input ${position}): ${node.locals[position]}`);
      });
      add(panel, "h3", "inputs");
      nodeLinks(panel, node.inputs);
    }
    if (node.users.length) {
      add(panel, "h3", node.users.length > 1 ? `used by ${node.users.length} operations: their shares add up`
                                             : "used by");
      nodeLinks(panel, node.users);
    }
    if (changes[i].length) {
      add(panel, "h3", "steps that change its gradient");
      const list = add(panel, "ul");
      changes[i].forEach((k) => {
        const shown = exercising() && k > current ? `${k}. (not shown yet)` : `${k}. ${steps[k - 1].text}`;
        const link = add(add(list, "li"), "a", shown);
        link.addEventListener("click", () => go(k));
      });
    }
  }

  function markSelected() {
    document.querySelectorAll("#views .selected").forEach((g) => g.classList.remove("selected"));
    if (selected === null) return;
    const g = element(shownAs(selected));
    if (g) g.classList.add("selected");
  }

  function select(i) {
    selected = i;
    markSelected();
    showDetails(i);
  }

  function openBox(box) {
    if (box.opens !== null) {
      showView(box.opens);
      return;
    }
    const panel = document.getElementById("details");
    panel.replaceChildren();
    panel.classList.add("open");
    add(panel, "h2", box.name);
    add(panel, "p", "This part holds more nodes than a page can draw readably, so it stays closed; " +
      "its steps are all in the step list, and each lights this box.");
  }

  function onGraphClick(event) {
    const g = event.target.closest("g.node");
    if (!g) return;
    const title = g.querySelector(":scope > title").textContent;
    if (byDot.has(title)) { select(byDot.get(title)); return; }
    if (title.endsWith("_op") && byDot.has(title.slice(0, -3))) { select(byDot.get(title.slice(0, -3))); return; }
    const box = data.views[view].boxes.find((b) => b.dot === title);
    if (box) openBox(box);
  }

  // -- the key -----------------------------------------------------------------------------------

  function showKey() {
    const key = document.getElementById("key");
    data.key.forEach((entry) => {
      const item = add(key, "li");
      item.dataset.mark = entry.mark;
      const swatch = add(item, "span", entry.mark === "unknown" ? "?" : "", `swatch ${entry.mark}`);
      if (entry.fill) swatch.style.background = entry.fill;
      if (entry.border) swatch.style.borderColor = entry.border;
      add(item, "span", entry.text, "wide");
      add(item, "span", entry.short, "narrow");
      item.title = entry.text;
    });
  }

  // -- wiring ------------------------------------------------------------------------------------

  document.title = `${data.title} · autodiff`;
  const notices = document.getElementById("notices");
  data.notices.forEach((text) => add(notices, "p", text, "notice"));
  if (data.views.length > 1) {
    data.views.forEach((described, v) => {
      if (v !== 0 && described.parent !== 0) return;  // deeper views are reached through their boxes
      const button = add(document.getElementById("view-buttons"), "button", described.name);
      button.dataset.view = String(v);
      button.addEventListener("click", () => showView(v));
    });
  }
  showKey();
  const slider = document.getElementById("slider");
  slider.max = String(steps.length);
  slider.addEventListener("input", () => go(Number(slider.value)));
  document.getElementById("first").addEventListener("click", () => go(0));
  document.getElementById("back").addEventListener("click", () => go(asking !== null ? current : current - 1));
  document.getElementById("forward").addEventListener("click", forward);
  document.getElementById("last").addEventListener("click", () => go(steps.length));
  document.getElementById("exercise").addEventListener("change", () => go(current));
  document.getElementById("question").addEventListener("submit", check);
  document.getElementById("hint").addEventListener("click", () => { hinted = true; render(); });
  document.getElementById("reveal").addEventListener("click", () => go(asking));
  document.getElementById("zoom-in").addEventListener("click", () => { zoom *= 1.25; refit(); });
  document.getElementById("zoom-out").addEventListener("click", () => { zoom /= 1.25; refit(); });
  document.getElementById("zoom-fit").addEventListener("click", () => { zoom = 1; refit(); });
  document.getElementById("views").addEventListener("click", onGraphClick);
  window.addEventListener("resize", refit);
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== "range" && event.target.type !== "checkbox") return;
    const moves = { ArrowLeft: () => go(asking !== null ? current : current - 1), ArrowRight: forward,
                    Home: () => go(0), End: () => go(steps.length) };
    if (!(event.key in moves)) return;
    event.preventDefault();
    moves[event.key]();
  });

  // for tests and the curious: the page's state in numbers, and the controls
  window.autodiffExplorer = {
    go, select, showView, forward,
    back: () => go(current - 1),
    agrees,
    state() {
      const step = current === 0 ? null : steps[current - 1];
      const d = drawing();
      return {
        step: current,
        steps: steps.length,
        view: view,
        layout: d.element.dataset.layout,
        scale: d.scale,
        asking: asking,
        kind: step ? step.kind : null,
        text: step ? step.text : null,
        node: step ? step.node : null,
        target: step ? step.target : null,
        lit: Array.from(d.element.querySelectorAll(".lit-target, .lit-source, .lit-op, .lit-edge"))
          .map((g) => `${g.getAttribute("class")} ${g.querySelector(":scope > title").textContent}`).sort(),
        grads: nodes.map((node, i) => {
          const grad = gradAt(i, current);
          return { name: node.name, text: grad.text, value: grad.value === undefined ? null : number(grad.value) };
        }),
      };
    },
  };

  showView(0);
})();
