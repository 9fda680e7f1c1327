// Training curves: one chart per scalar (loss, lr, accuracy/top1, ...), one line per run; the
// extension posts the parsed vis_data/scalars.json again whenever a run writes to it.
(function () {
  const { vscode, palette, msg, el, lineChart } = window.mm;
  const charts = document.getElementById('charts');
  const runsEl = document.getElementById('runs');
  document.getElementById('add').addEventListener('click', () => vscode.postMessage({ type: 'add' }));
  let last = null;
  // Union of the x values of every run for one key; each run's values aligned on it (null = no point).
  function align(runs, key) {
    const xs = new Set();
    for (const r of runs) for (const s of r.series) if (s.key === key) s.x.forEach((x) => xs.add(x));
    const x = [...xs].sort((a, b) => a - b);
    const idx = new Map(x.map((v, i) => [v, i]));
    const series = [];
    const colors = palette();
    runs.forEach((r, ri) => {
      const s = r.series.find((t) => t.key === key);
      if (!s) return;
      const values = new Array(x.length).fill(null);
      s.x.forEach((xv, i) => { values[idx.get(xv)] = s.y[i]; });
      series.push({ label: r.label, color: colors[ri % colors.length], values });
    });
    return { x, series };
  }
  function orderKeys(runs) {
    const keys = new Set();
    for (const r of runs) for (const s of r.series) keys.add(s.key);
    const rank = (k) => (k === 'loss' ? 0 : k.startsWith('loss') ? 1 : k === 'lr' ? 2 : k.includes('/') ? 4 : 3);
    return [...keys].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }
  function render(m) {
    last = m;
    charts.textContent = '';
    runsEl.textContent = '';
    const colors = palette();
    m.state.workDirs.forEach((w, i) => {
      const a = el('a', { title: 'Remove this run', text: '×' });
      a.addEventListener('click', () => vscode.postMessage({ type: 'remove', workDir: w }));
      const sw = el('span', { class: 'swatch' });
      sw.style.background = colors[i % colors.length];
      runsEl.appendChild(el('span', { class: 'runchip', title: w }, [sw, el('span', { text: w.split(/[\\/]/).pop() }), a]));
    });
    if (m.missing && m.missing.length) msg('No vis_data/scalars.json yet in: ' + m.missing.join(', ') + (m.runs.length ? '' : '\nIt appears once a run logs its first iterations.'));
    else msg(m.runs.length ? '' : 'Nothing logged yet.');
    for (const key of orderKeys(m.runs)) {
      const { x, series } = align(m.runs, key);
      const isVal = key.includes('/');
      lineChart(charts, key, isVal ? 'epoch' : 'iteration', x, series);
    }
  }
  window.addEventListener('message', (e) => {
    if (e.data.type === 'data') { vscode.setState(e.data.state); render(e.data); }
  });
  window.addEventListener('resize', () => last && render(last));
  vscode.postMessage({ type: 'ready' });
})();
