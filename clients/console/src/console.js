// The console's progressive enhancement: every page works without this file. With it: htmx
// (partial page loads, labelling from the queue), charts (Chart.js) from the JSON data blocks
// the pages carry, the cluster graph (Cytoscape), and keyboard navigation of the review queue.
// No inline script anywhere: the Content-Security-Policy allows scripts from this origin only.
import htmx from 'htmx.org';
import { Chart, registerables } from 'chart.js';
import cytoscape from 'cytoscape';

Chart.register(...registerables);
window.htmx = htmx;

const COLOURS = ['#2f6fb0', '#d9822b', '#c23030', '#0f9960', '#8f398f', '#5c7080', '#a67908', '#00998c'];

function data(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

function drawCharts(root) {
  const decisions = root.querySelector('#decisions-chart');
  const d = data('decisions-data');
  if (decisions && d && !decisions.dataset.drawn) {
    decisions.dataset.drawn = '1';
    new Chart(decisions, {
      type: 'bar',
      data: { labels: d.labels, datasets: d.series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: COLOURS[i % COLOURS.length] })) },
      options: { animation: false, responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    });
  }
  const hours = root.querySelector('#hours-chart');
  const h = data('hours-data');
  if (hours && h && !hours.dataset.drawn) {
    hours.dataset.drawn = '1';
    new Chart(hours, {
      type: 'bar',
      data: { labels: h.map((_, i) => String(i)), datasets: [{ label: 'requests by hour (UTC)', data: h, backgroundColor: COLOURS[0] }] },
      options: { animation: false, responsive: true, scales: { y: { beginAtZero: true } } },
    });
  }
}

function drawGraph(root) {
  const box = root.querySelector('#cluster-graph');
  const g = data('cluster-data');
  if (!box || !g || box.dataset.drawn) return;
  box.dataset.drawn = '1';
  // Cytoscape adds an inline <style> (which the CSP refuses) unless an element with this id
  // exists; console.css carries its one rule instead.
  if (!document.getElementById('__________cytoscape_stylesheet')) {
    const marker = document.createElement('meta');
    marker.id = '__________cytoscape_stylesheet';
    document.head.appendChild(marker);
  }
  const cy = cytoscape({
    container: box,
    elements: g.elements,
    // Accounts on the outer ring, what they share inside it: a cluster is mostly every member
    // sharing the same few values, which a force layout piles into one unreadable knot.
    layout: {
      name: 'concentric', animate: false, fit: true, padding: 30, minNodeSpacing: 30,
      concentric: (n) => (n.data('kind') === 'account' ? 1 : 2), levelWidth: () => 1,
    },
    pixelRatio: 1,
    motionBlur: false,
    textureOnViewport: false,
    style: [
      { selector: 'node', style: { label: 'data(label)', 'font-size': 9, 'background-color': '#5c7080', width: 14, height: 14 } },
      { selector: 'node[kind = "account"]', style: { 'background-color': '#2f6fb0', shape: 'ellipse', width: 22, height: 22 } },
      { selector: 'node[decision = "block"]', style: { 'background-color': '#c23030' } },
      { selector: 'node[decision = "challenge"]', style: { 'background-color': '#d9822b' } },
      { selector: 'node[flag = "fraud"]', style: { 'border-width': 3, 'border-color': '#000' } },
      { selector: 'node[kind != "account"]', style: { shape: 'diamond', 'font-size': 8, color: '#5c7080' } },
      { selector: 'edge', style: { width: 1, 'line-color': '#bfccd6' } },
    ],
  });
  box.cy = cy;   // for the end-to-end tests' checks
  cy.ready(() => {
    cy.resize();
    cy.fit(undefined, 30);
    cy.one('render', () => { box.dataset.rendered = '1'; });
    cy.forceRender();
  });
}

// Review queue: j/k move between rows, Enter opens, f/l label the focused row, n next page.
function queueKeys(event) {
  if (event.target.closest('input, textarea, select') || event.ctrlKey || event.metaKey || event.altKey) return;
  const rows = [...document.querySelectorAll('tr.queue-row')];
  if (!rows.length) return;
  const current = rows.findIndex((r) => r.classList.contains('focused'));
  const focus = (i) => {
    rows.forEach((r) => r.classList.remove('focused'));
    const row = rows[Math.max(0, Math.min(rows.length - 1, i))];
    row.classList.add('focused');
    row.querySelector('a.open').focus();
  };
  const row = rows[current];
  if (event.key === 'j') focus(current + 1);
  else if (event.key === 'k') focus(current < 0 ? 0 : current - 1);
  else if (event.key === 'f' && row) row.querySelector('button.fraud')?.click();
  else if (event.key === 'l' && row) row.querySelector('button.legit')?.click();
  else if (event.key === 'n') document.querySelector('a.next-page')?.click();
  else return;
  event.preventDefault();
}

function enhance(root) {
  drawCharts(root);
  drawGraph(root);
}

document.addEventListener('DOMContentLoaded', () => enhance(document));
document.addEventListener('htmx:afterSettle', () => enhance(document));
document.addEventListener('keydown', queueKeys);
