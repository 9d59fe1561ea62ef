// The page autodiff.explore writes: step through backward, forwards and back, and read any node's numbers.
//
// Step k shows every node's gradient as it stood once steps 1..k were done: the gradient recorded by
// the last of those steps that changed the node, else what it held before backward (data.nodes[i].grad0).
// Nothing is computed here: every number was recorded in Python by the engine's own arithmetic.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("explore-data").textContent);
  const nodes = data.nodes;
  const steps = data.steps;
  const byDot = new Map(nodes.map((node, i) => [node.dot, i]));

  // changes[i]: the steps (numbered from 1) whose target is node i, in order
  const changes = nodes.map(() => []);
  steps.forEach((step, k) => changes[step.target].push(k + 1));

  const viewElements = Array.from(document.querySelectorAll("#views .view"));
  // per view, the drawing's elements by the name dot gave them (its <title>): nodes, boxes, edges into boxes
  const drawn = viewElements.map((element) => {
    const titled = new Map();
    element.querySelectorAll("g.node, g.edge").forEach((g) => {
      const title = g.querySelector(":scope > title");
      if (title && !titled.has(title.textContent)) titled.set(title.textContent, g);
    });
    return titled;
  });

  let current = 0;
  let view = 0;
  let selected = null;
  let zoom = 1;

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

  // the name dot gave to what shows node i in the view: its own record, or the closed box holding it
  function shownAs(i, v) {
    const box = data.owner[i];
    if (box !== undefined && data.views[v].closed[box] !== undefined) return data.views[v].closed[box];
    return nodes[i].dot;
  }

  function isDrawn(i, v) {
    return shownAs(i, v) === nodes[i].dot;
  }

  function element(v, dotName) {
    return drawn[v].get(dotName) || null;
  }

  function edgeElement(step, v) {
    // the edge from the step's target into the operation of the node passing its gradient down
    if (step.position === null) return null;
    if (isDrawn(step.node, v)) {
      const byId = document.getElementById(`v${v}-${nodes[step.node].dot}:${step.position}`);
      if (byId) return byId;
    }
    const head = isDrawn(step.node, v) ? `${nodes[step.node].dot}_op` : shownAs(step.node, v);
    const tail = shownAs(step.target, v);
    return tail === head ? null : element(v, `${tail}->${head}`);
  }

  function clearLights() {
    viewElements[view].querySelectorAll(".lit-target, .lit-source, .lit-op, .lit-edge").forEach((g) => {
      g.classList.remove("lit-target", "lit-source", "lit-op", "lit-edge");
    });
  }

  function showGradients() {
    nodes.forEach((node, i) => {
      if (!isDrawn(i, view)) return;
      const g = element(view, node.dot);
      if (!g) return;
      const texts = g.querySelectorAll(":scope > text");
      const field = texts[texts.length - 1];  // a record's last field is always its gradient
      field.textContent = `grad ${gradAt(i, current).text}`;
    });
  }

  function light() {
    const viewsElement = document.getElementById("views");
    viewsElement.classList.toggle("accumulate", current > 0 && steps[current - 1].kind === "accumulate");
    if (current === 0) return;
    const step = steps[current - 1];
    const mark = (g, name) => { if (g) g.classList.add(name); };
    mark(element(view, shownAs(step.node, view)), "lit-source");
    if (isDrawn(step.node, view) && nodes[step.node].inputs.length) {
      mark(element(view, `${nodes[step.node].dot}_op`), "lit-op");
    }
    const target = element(view, shownAs(step.target, view));
    mark(target, "lit-target");
    mark(edgeElement(step, view), "lit-edge");
    if (target) scrollIntoSight(target);
  }

  function scrollIntoSight(g) {
    // scroll the drawing alone, never the page, until the element is in sight
    const frame = document.getElementById("views");
    const box = g.getBoundingClientRect();
    const area = frame.getBoundingClientRect();
    if (box.left < area.left || box.right > area.right) {
      frame.scrollLeft += (box.left + box.right) / 2 - (area.left + area.right) / 2;
    }
    if (box.top < area.top || box.bottom > area.bottom) {
      frame.scrollTop += (box.top + box.bottom) / 2 - (area.top + area.bottom) / 2;
    }
  }

  function showStepText() {
    const text = document.getElementById("step-text");
    text.classList.toggle("accumulate", current > 0 && steps[current - 1].kind === "accumulate");
    text.classList.toggle("before", current === 0);
    text.textContent = current === 0
      ? "Before backward: press forward (→) to start with the seed."
      : `${current}. ${steps[current - 1].text}`;
    document.getElementById("counter").textContent = `step ${current} of ${steps.length}`;
    document.getElementById("slider").value = String(current);
    document.getElementById("first").disabled = document.getElementById("back").disabled = current === 0;
    document.getElementById("last").disabled = document.getElementById("forward").disabled = current === steps.length;
    const list = document.getElementById("step-list");
    list.replaceChildren();
    const first = Math.max(1, Math.min(current - 2, steps.length - 5));
    for (let k = first; k <= Math.min(steps.length, first + 5); k++) {
      const item = document.createElement("li");
      item.textContent = `${k}. ${steps[k - 1].text}`;
      item.title = steps[k - 1].text;
      if (k === current) item.className = "current";
      item.addEventListener("click", () => go(k));
      list.appendChild(item);
    }
  }

  function go(k) {
    clearLights();
    current = Math.max(0, Math.min(steps.length, k));
    showGradients();
    light();
    showStepText();
    if (selected !== null) showDetails(selected);
  }

  function showView(v) {
    clearLights();
    viewElements[view].hidden = true;
    view = v;
    viewElements[view].hidden = false;
    document.querySelectorAll("#view-buttons button").forEach((button, b) => {
      button.classList.toggle("current", b === v);
    });
    markSelected();
    go(current);
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
    add(panel, "h2", node.name);
    const facts = add(panel, "dl");
    const fact = (name, value) => { add(facts, "dt", name); return add(facts, "dd", value); };
    fact("kind", node.kind);
    fact("operation", node.op || "none: a leaf");
    const grad = gradAt(i, current);
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
        const link = add(add(list, "li"), "a", `${k}. ${steps[k - 1].text}`);
        link.addEventListener("click", () => go(k));
      });
    }
  }

  function markSelected() {
    viewElements.forEach((element) => element.querySelectorAll(".selected").forEach((g) => g.classList.remove("selected")));
    if (selected === null) return;
    const g = element(view, shownAs(selected, view));
    if (g) g.classList.add("selected");
  }

  function select(i) {
    selected = i;
    markSelected();
    showDetails(i);
  }

  function openBox(box) {
    // the view with this box open, if the box was small enough to draw
    const v = data.views.findIndex((candidate) => candidate.closed[box] === undefined &&
      Object.keys(candidate.closed).length === data.boxes.length - 1);
    if (v >= 0) {
      showView(v);
    } else {
      const panel = document.getElementById("details");
      panel.replaceChildren();
      add(panel, "h2", data.boxes[box]);
      add(panel, "p", "This layer holds more nodes than a page can draw readably, so it stays closed; " +
        "its steps are all in the step list.");
    }
  }

  function onGraphClick(event) {
    const g = event.target.closest("g.node");
    if (!g) return;
    const title = g.querySelector(":scope > title").textContent;
    if (byDot.has(title)) { select(byDot.get(title)); return; }
    if (title.endsWith("_op") && byDot.has(title.slice(0, -3))) { select(byDot.get(title.slice(0, -3))); return; }
    const closed = data.views[view].closed;
    const box = Object.keys(closed).find((b) => closed[b] === title);
    if (box !== undefined) openBox(Number(box));
  }

  // -- zoom --------------------------------------------------------------------------------------

  function applyZoom() {
    const viewsElement = document.getElementById("views");
    viewsElement.classList.toggle("fit", zoom === null);
    viewElements.forEach((element) => {
      const svg = element.querySelector("svg");
      if (!svg.dataset.width) svg.dataset.width = parseFloat(svg.getAttribute("width"));
      svg.style.width = zoom === null ? "" : `${svg.dataset.width * zoom}pt`;
      svg.style.height = zoom === null ? "" : "auto";
    });
  }

  // -- wiring ------------------------------------------------------------------------------------

  document.title = `${data.title} · autodiff`;
  const notices = document.getElementById("notices");
  data.notices.forEach((text) => add(notices, "p", text, "notice"));
  if (data.views.length > 1) {
    data.views.forEach((described, v) => {
      add(document.getElementById("view-buttons"), "button", described.name).addEventListener("click", () => showView(v));
    });
  }
  const slider = document.getElementById("slider");
  slider.max = String(steps.length);
  slider.addEventListener("input", () => go(Number(slider.value)));
  document.getElementById("first").addEventListener("click", () => go(0));
  document.getElementById("back").addEventListener("click", () => go(current - 1));
  document.getElementById("forward").addEventListener("click", () => go(current + 1));
  document.getElementById("last").addEventListener("click", () => go(steps.length));
  document.getElementById("zoom-in").addEventListener("click", () => { zoom = (zoom || 1) * 1.25; applyZoom(); });
  document.getElementById("zoom-out").addEventListener("click", () => { zoom = (zoom || 1) / 1.25; applyZoom(); });
  document.getElementById("zoom-fit").addEventListener("click", () => { zoom = zoom === null ? 1 : null; applyZoom(); });
  document.getElementById("views").addEventListener("click", onGraphClick);
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== "range") return;
    const moves = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: steps.length };
    if (!(event.key in moves)) return;
    event.preventDefault();
    go(moves[event.key]);
  });

  // for tests and the curious: the page's state in numbers, and the controls
  window.autodiffExplorer = {
    go, select, showView,
    forward: () => go(current + 1),
    back: () => go(current - 1),
    state() {
      const step = current === 0 ? null : steps[current - 1];
      return {
        step: current,
        steps: steps.length,
        view: view,
        kind: step ? step.kind : null,
        text: step ? step.text : null,
        node: step ? step.node : null,
        target: step ? step.target : null,
        lit: Array.from(viewElements[view].querySelectorAll(".lit-target, .lit-source, .lit-op, .lit-edge"))
          .map((g) => `${g.getAttribute("class")} ${g.querySelector(":scope > title").textContent}`).sort(),
        grads: nodes.map((node, i) => {
          const grad = gradAt(i, current);
          return { name: node.name, text: grad.text, value: grad.value === undefined ? null : number(grad.value) };
        }),
      };
    },
  };

  viewElements[0].hidden = false;
  // a drawing wider than the window starts scaled to fit, though never below 40%: past that, scroll
  const natural = parseFloat(viewElements[0].querySelector("svg").getAttribute("width")) * 4 / 3;
  const room = document.getElementById("views").clientWidth - 32;
  if (natural > room) { zoom = Math.max(0.4, room / natural); applyZoom(); }
  const buttons = document.querySelectorAll("#view-buttons button");
  if (buttons.length) buttons[0].classList.add("current");
  go(0);
})();
