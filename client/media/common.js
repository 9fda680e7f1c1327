// Shared by the extension's webviews (no remote content; loaded with the page's nonce).
(function () {
  const vscode = acquireVsCodeApi();
  const css = (name, fallback) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
  const palette = () => [
    css('--vscode-charts-blue', '#3794ff'), css('--vscode-charts-orange', '#d18616'), css('--vscode-charts-green', '#89d185'),
    css('--vscode-charts-red', '#f14c4c'), css('--vscode-charts-purple', '#b180d7'), css('--vscode-charts-yellow', '#cca700'),
  ];
  const msg = (text, isError) => {
    const el = document.getElementById('msg');
    if (!el) return;
    el.textContent = text || '';
    el.className = isError ? 'error' : '';
  };
  const el = (tag, attrs, children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v; else if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children || []) e.appendChild(c);
    return e;
  };
  // A uPlot line chart sized to the page, axes and grid in theme colours.
  const lineChart = (parent, title, xLabel, xs, series) => {
    const box = el('div', { class: 'chart' }, [el('h3', { text: title })]);
    parent.appendChild(box);
    const fg = css('--vscode-foreground', '#ccc');
    const grid = css('--vscode-editorWidget-border', '#8884');
    const axis = { stroke: fg, grid: { stroke: grid, width: 0.5 }, ticks: { stroke: grid, width: 0.5 } };
    const width = Math.max(320, Math.min(document.body.clientWidth - 40, 1000));
    const opts = {
      width, height: 180,
      scales: { x: { time: false } },
      axes: [Object.assign({ label: xLabel }, axis), Object.assign({ size: 70 }, axis)],
      series: [{ label: xLabel }].concat(series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: true, points: { show: xs.length < 60 } }))),
      legend: { live: true },
    };
    return new uPlot(opts, [xs].concat(series.map((s) => s.values)), box);
  };
  window.mm = { vscode, css, palette, msg, el, lineChart };
})();
