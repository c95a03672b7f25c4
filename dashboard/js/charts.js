// Charts, drawn by Chart.js (vendor/chart.umd.min.js, loaded before the modules). Positions are
// Numbers; every tooltip shows the API's exact string.

import { formatUsd } from './money.js';

const PALETTE = ['#3b6fd8', '#e07b39', '#3aa676', '#c94f7c', '#8a63d2', '#c9a227', '#2aa1b3', '#7a7a7a', '#b5533c', '#5b8c2a'];
const charts = new WeakMap();

export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

function place(canvas, config) {
  charts.get(canvas)?.destroy();
  const chart = new window.Chart(canvas, config);
  charts.set(canvas, chart);
  return chart;
}

/**
 * A stacked bar chart of money: labels (x), series [{label, values: [decimal string|null]}].
 */
export function stackedMoney(canvas, labels, series) {
  return place(canvas, {
    type: 'bar',
    data: {
      labels,
      datasets: series.map((s, i) => ({
        label: s.label,
        data: s.values.map((v) => (v === null ? 0 : Number(v))),
        exact: s.values,
        backgroundColor: colour(i),
        borderWidth: 0,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { stacked: true, grid: { display: false } },
        y: { stacked: true, beginAtZero: true, ticks: { callback: (v) => `$${v}` } },
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: {
          filter: (item) => item.dataset.exact[item.dataIndex] !== null,
          callbacks: {
            label: (item) => `${item.dataset.label}: ${formatUsd(item.dataset.exact[item.dataIndex])}`,
          },
        },
      },
    },
  });
}

/**
 * Price history: one stepped line per rate (USD per 1M tokens) over the price versions'
 * effective dates.
 */
export function priceSteps(canvas, labels, series) {
  return place(canvas, {
    type: 'line',
    data: {
      labels,
      datasets: series.map((s, i) => ({
        label: s.label,
        data: s.values.map((v) => (v === null ? null : Number(v))),
        exact: s.values,
        borderColor: colour(i),
        backgroundColor: colour(i),
        stepped: 'before',
        spanGaps: true,
        pointRadius: 4,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: 'USD per 1M tokens' } } },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (item) => `${item.dataset.label}: ${formatUsd(item.dataset.exact[item.dataIndex])} / 1M`,
          },
        },
      },
    },
  });
}

/** A doughnut of counts (tokens by kind). */
export function doughnut(canvas, labels, values) {
  return place(canvas, {
    type: 'doughnut',
    data: { labels, datasets: [{ data: values, backgroundColor: labels.map((_, i) => colour(i)) }] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: {
        legend: { position: 'right', labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (item) => `${item.label}: ${Number(item.raw).toLocaleString('en-US')}` } },
      },
    },
  });
}
