// Dataset gallery: the images `mmcls browse-dataset` writes (original | transformed, or each pipeline step).
(function () {
  const { vscode, msg, el } = window.mm;
  const grid = document.getElementById('grid');
  const phase = document.getElementById('phase');
  const mode = document.getElementById('mode');
  const st = vscode.getState();
  if (st) { phase.value = st.phase; mode.value = st.mode; }
  const reload = () => vscode.postMessage({ type: 'reload', phase: phase.value, mode: mode.value });
  document.getElementById('reload').addEventListener('click', reload);
  phase.addEventListener('change', reload);
  mode.addEventListener('change', reload);
  window.addEventListener('message', (e) => {
    const m = e.data;
    vscode.setState(m.state);
    phase.value = m.state.phase;
    mode.value = m.state.mode;
    if (m.type === 'busy') { grid.textContent = ''; msg('Running browse-dataset…'); }
    if (m.type === 'data') {
      grid.textContent = '';
      msg(m.error ? m.error : m.images.length ? `${m.images.length} images` : 'No images.', !!m.error);
      for (const im of m.images) grid.appendChild(el('figure', {}, [el('img', { src: im.src, alt: im.name }), el('figcaption', { text: im.name })]));
    }
  });
  vscode.postMessage({ type: 'ready', phase: phase.value, mode: mode.value });
})();
