"""CSS and JavaScript of the backprop step-through page, inlined by
:func:`deltaprop.viz.backprop_page.render_html` (no files to package, no network)."""

PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1000px; }
h1 { font-size: 1.3em; }
h2 { font-size: 1.05em; margin: 0.6em 0 0.2em; }
#controls button { font-size: 1em; padding: 0.3em 0.9em; margin-right: 0.3em; }
#step { margin-left: 1em; font-weight: bold; }
#explain { min-height: 4.5em; background: #f6f6f6; padding: 0.6em; border-radius: 4px;
  font-family: ui-monospace, monospace; font-size: 0.9em; line-height: 1.4; }
#net { width: 100%; height: auto; border: 1px solid #ddd; background: #fff; }
.edge { stroke-opacity: 0.35; }
.edge.active { stroke-opacity: 0.95; }
.edge.back { stroke-opacity: 0.95; stroke-dasharray: 5 3; }
.node circle { fill: #fff; stroke: #555; stroke-width: 1.5; }
.node.active circle { fill: #ffe9a8; stroke: #c80; stroke-width: 3; }
.node.done circle { fill: #e8f1ff; }
.node text { font-size: 11px; text-anchor: middle; pointer-events: none; }
.node text.delta { fill: #b03; font-size: 10px; }
.lossbox { font-size: 14px; font-weight: bold; }
.colname { font-size: 12px; fill: #666; text-anchor: middle; }
.legend { font-size: 0.85em; color: #666; }
"""

PAGE_JS = r"""
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('backprop-data').textContent);
  var steps = data.steps;
  var layers = data.layers;
  var sizes = data.sizes;
  var svg = document.getElementById('net');
  var NS = svg.namespaceURI;
  var W = data.layout.width, H = 80 + 56 * Math.max.apply(null, sizes);
  var cur = 0;
  var timer = null;

  function fmt(v) {
    var n = Number(v);
    if (!isFinite(n)) { return String(n); }
    return String(Number(n.toPrecision(4)));
  }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function colX(c) { return 90 + c * (W - 90 - data.layout.right) / Math.max(1, sizes.length - 1); }
  function unitY(c, j) { return H / 2 + (j - (sizes[c] - 1) / 2) * 56; }

  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  var gEdges = el('g', {}, svg);
  var gNodes = el('g', {}, svg);
  var edges = [];   // edges[l][i][j]
  var nodes = [];   // nodes[c][j] = {g, title, value, delta}
  var c, i, j, l;

  for (l = 0; l < layers.length; l++) {
    edges.push([]);
    for (i = 0; i < sizes[l]; i++) {
      edges[l].push([]);
      for (j = 0; j < sizes[l + 1]; j++) {
        var line = el('line', {
          'class': 'edge', id: 'edge-' + l + '-' + i + '-' + j,
          x1: colX(l), y1: unitY(l, i), x2: colX(l + 1), y2: unitY(l + 1, j)
        }, gEdges);
        edges[l][i].push({line: line, title: el('title', {}, line)});
      }
    }
  }
  for (c = 0; c < sizes.length; c++) {
    nodes.push([]);
    var name = c === 0 ? 'input' : (c === sizes.length - 1 ? 'output' : 'layer ' + c);
    el('text', {'class': 'colname', x: colX(c), y: 24}, svg).textContent = name;
    for (j = 0; j < sizes[c]; j++) {
      var g = el('g', {'class': 'node', id: 'node-' + c + '-' + j}, gNodes);
      var title = el('title', {}, g);
      el('circle', {cx: colX(c), cy: unitY(c, j), r: 20}, g);
      var value = el('text', {x: colX(c), y: unitY(c, j) + 4}, g);
      var delta = el('text', {'class': 'delta', x: colX(c), y: unitY(c, j) + 33}, g);
      nodes[c].push({g: g, title: title, value: value, delta: delta});
    }
  }
  // Two lines, in the right margin the layout keeps for them (data.layout.right).
  var lossText = el('text', {'class': 'lossbox', x: colX(sizes.length - 1) + 40, y: H / 2},
                    svg);
  var lossLines = data.loss_label.map(function (line, k) {
    return el('tspan', {x: colX(sizes.length - 1) + 40, dy: k === 0 ? '0' : '1.3em'}, lossText);
  });

  function state(upto) {
    var s = {fwd: [], bwd: [], upd: [], loss: false};
    for (l = 0; l < layers.length; l++) { s.fwd.push(false); s.upd.push(false); s.bwd.push([]); }
    for (var k = 0; k <= upto; k++) {
      var st = steps[k];
      if (st.kind === 'forward') { s.fwd[st.layer] = true; }
      else if (st.kind === 'loss') { s.loss = true; }
      else if (st.kind === 'backward') { s.bwd[st.layer][st.unit] = true; }
      else if (st.kind === 'update') { s.upd[st.layer] = true; }
    }
    return s;
  }

  function render() {
    var st = steps[cur];
    var s = state(cur);
    document.getElementById('step').textContent = 'Step ' + (cur + 1) + ' / ' + steps.length;
    document.getElementById('step-title').textContent = st.title;
    document.getElementById('explain').textContent = st.text;
    document.getElementById('prev').disabled = cur === 0;
    document.getElementById('next').disabled = cur === steps.length - 1;
    for (i = 0; i < sizes[0]; i++) {
      var n0 = nodes[0][i];
      n0.value.textContent = fmt(data.input[i]);
      n0.title.textContent = 'Input ' + (i + 1) + ': x = ' + fmt(data.input[i]);
      n0.g.setAttribute('class', 'node');
    }
    for (l = 0; l < layers.length; l++) {
      var L = layers[l];
      for (j = 0; j < sizes[l + 1]; j++) {
        var n = nodes[l + 1][j];
        var lines = ['Layer ' + (l + 1) + ', unit ' + (j + 1) +
                     (L.activation ? ' (' + L.activation + ')' : ' (no activation)'),
                     'bias b = ' + fmt(L.bias[j])];
        if (s.fwd[l]) {
          lines.push('z = ' + fmt(L.z[j]), 'a = ' + fmt(L.a[j]));
        }
        var back = s.bwd[l][j] === true;
        if (back) {
          lines.push('upstream dL/da = ' + fmt(L.upstream[j]),
                     'local da/dz = ' + fmt(L.local[j]),
                     'delta dL/dz = ' + fmt(L.delta[j]),
                     'dL/db = ' + fmt(L.grad_bias[j]));
        }
        if (s.upd[l]) { lines.push('new bias = ' + fmt(L.new_bias[j])); }
        n.title.textContent = lines.join('\n');
        n.value.textContent = s.fwd[l] ? fmt(L.a[j]) : '';
        n.delta.textContent = back ? '\u03b4 ' + fmt(L.delta[j]) : '';
        var cls = 'node';
        if (back || s.fwd[l]) { cls += ' done'; }
        if ((st.kind === 'forward' && st.layer === l) ||
            (st.kind === 'loss' && l === layers.length - 1) ||
            (st.kind === 'backward' && st.layer === l && st.unit === j)) { cls += ' active'; }
        n.g.setAttribute('class', cls);
        for (i = 0; i < sizes[l]; i++) {
          var e = edges[l][i][j];
          var w = s.upd[l] ? L.new_weight[i][j] : L.weight[i][j];
          var t = ['W[' + (i + 1) + ',' + (j + 1) + '] of layer ' + (l + 1) +
                   ' = ' + fmt(L.weight[i][j])];
          if (back) { t.push('dL/dW = a_i x delta = ' + fmt(L.grad_weight[i][j])); }
          if (s.upd[l]) { t.push('new W = ' + fmt(L.new_weight[i][j])); }
          e.title.textContent = t.join('\n');
          e.line.setAttribute('stroke', w >= 0 ? '#2563eb' : '#dc2626');
          e.line.setAttribute('stroke-width', String(Math.min(8, 0.8 + 3 * Math.abs(w))));
          var ecls = 'edge';
          if ((st.kind === 'forward' && st.layer === l) ||
              (st.kind === 'update' && st.layer === l) ||
              (st.kind === 'backward' && st.layer === l && st.unit === j)) {
            ecls += ' active';
          } else if (st.kind === 'backward' && st.layer === l - 1 && st.unit === i) {
            ecls += ' back';
          }
          e.line.setAttribute('class', ecls);
        }
      }
    }
    if (s.loss) {
      lossLines.forEach(function (t, k) { t.textContent = data.loss_label[k]; });
    } else {
      lossLines.forEach(function (t) { t.textContent = ''; });
    }
  }

  function go(k) {
    cur = Math.max(0, Math.min(steps.length - 1, k));
    render();
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    document.getElementById('play').textContent = 'Play';
  }
  document.getElementById('next').addEventListener('click', function () { stop(); go(cur + 1); });
  document.getElementById('prev').addEventListener('click', function () { stop(); go(cur - 1); });
  document.getElementById('play').addEventListener('click', function () {
    if (timer !== null) { stop(); return; }
    if (cur === steps.length - 1) { go(0); }
    document.getElementById('play').textContent = 'Pause';
    timer = setInterval(function () {
      if (cur >= steps.length - 1) { stop(); } else { go(cur + 1); }
    }, 1500);
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'ArrowRight') { stop(); go(cur + 1); }
    if (ev.key === 'ArrowLeft') { stop(); go(cur - 1); }
  });
  go(0);
}());
"""
