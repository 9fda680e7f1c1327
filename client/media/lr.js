// LR schedule: the learning rate and momentum at every training iteration of the config's
// param_scheduler (computed by a child process with the runtime's schedulers).
(function () {
  const { vscode, palette, msg, lineChart } = window.mm;
  const charts = document.getElementById('charts');
  const info = document.getElementById('info');
  document.getElementById('reload').addEventListener('click', () => vscode.postMessage({ type: 'reload' }));
  let last = null;
  function render(d) {
    charts.textContent = '';
    if (!d.ok) { msg(d.message, true); info.textContent = ''; return; }
    msg('');
    const c = d.curve;
    const per = c.iters_per_epoch;
    const x = c.lr.map((_, i) => (c.by_epoch ? i / per : i));
    const xLabel = c.by_epoch ? 'epoch' : 'iteration';
    info.textContent = `${c.by_epoch ? c.max_epochs + ' epochs × ' + per + ' iterations' : c.max_iters + ' iterations'} · base lr ${c.base_lr} · dataset size ${d.dataset_size}`;
    const col = palette();
    lineChart(charts, 'Learning rate', xLabel, x, [{ label: 'lr', color: col[0], values: c.lr }]);
    if (c.momentum && c.momentum.some((v) => v !== null && v !== undefined)) lineChart(charts, 'Momentum', xLabel, x, [{ label: 'momentum', color: col[1], values: c.momentum }]);
  }
  window.addEventListener('message', (e) => {
    const m = e.data;
    vscode.setState(m.state);
    if (m.type === 'busy') msg('Computing the schedule…');
    if (m.type === 'data') { last = m.data; render(m.data); }
  });
  window.addEventListener('resize', () => last && render(last));
  vscode.postMessage({ type: 'ready' });
})();
