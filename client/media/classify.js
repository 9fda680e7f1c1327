// Classify image: the image and its top-k classes with scores.
(function () {
  const { vscode, msg, el } = window.mm;
  const img = document.getElementById('img');
  const top = document.getElementById('top');
  document.getElementById('reload').addEventListener('click', () => vscode.postMessage({ type: 'reload' }));
  window.addEventListener('message', (e) => {
    const m = e.data;
    vscode.setState(m.state);
    if (m.imgSrc) img.src = m.imgSrc;
    if (m.type === 'busy') { top.textContent = ''; msg('Classifying with ' + (m.state.checkpoint || '').split(/[\\/]/).pop() + '…'); }
    if (m.type === 'data') {
      top.textContent = '';
      const r = m.result || {};
      if (r.error) { msg(r.error, true); return; }
      msg(`${(m.state.config || '').split(/[\\/]/).pop()} · ${(m.state.checkpoint || '').split(/[\\/]/).pop()}`);
      top.appendChild(el('tr', {}, [el('th', { text: '#' }), el('th', { text: 'class' }), el('th', { text: 'score' }), el('th', {})]));
      (r.topk || []).forEach((p, i) => {
        const bar = el('div', { class: 'bar' });
        bar.style.width = Math.round(100 * Math.max(0, Math.min(1, p.score))) + 'px';
        top.appendChild(el('tr', {}, [el('td', { text: String(i + 1) }), el('td', { text: p.label ?? String(p.index) }), el('td', { class: 'score', text: (100 * p.score).toFixed(2) + '%' }), el('td', {}, [bar])]));
      });
    }
  });
  vscode.postMessage({ type: 'ready' });
})();
