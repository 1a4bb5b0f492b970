// A client company's versions: who saved each and when, what changed between any two, and
// restoring one (after a confirmation) as a new version.

import { api, detailText, fmtTime, gettext, h, ngettext, put } from './ui.js';

const DATA = JSON.parse(document.getElementById('versions-data')?.textContent ?? '{}');
const BASE = `/api/v1/clients/${encodeURIComponent(DATA.slug)}`;
const rows = document.getElementById('version-rows');
const statusLine = document.getElementById('versions-status');
const alertBox = document.getElementById('versions-alert');
const fromSelect = document.getElementById('diff-from');
const toSelect = document.getElementById('diff-to');
const result = document.getElementById('diff-result');

let versions = [];
const CONTEXT = 2; // unchanged lines shown around a change

function fail(text) {
  put(alertBox, h('p', { text }));
  alertBox.hidden = false;
  alertBox.focus();
}

function fullTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(document.documentElement.lang || undefined);
}

function drawRows() {
  const newest = versions[0]?.version;
  put(rows, ...versions.map((v) => {
    const restore = v.version === newest ? null : h('button', {
      type: 'button', className: 'secondary restore', 'data-version': v.version,
      text: gettext('Restore'), 'aria-label': gettext('Restore version %(version)s', { version: v.version }),
    });
    restore?.addEventListener('click', () => restoreVersion(v.version));
    const before = versions.find((other) => other.version < v.version);
    const compare = before === undefined ? null : h('button', {
      type: 'button', className: 'secondary compare', text: gettext('Changes'),
      'aria-label': gettext('What version %(version)s changed', { version: v.version }),
    });
    compare?.addEventListener('click', () => {
      fromSelect.value = String(before.version);
      toSelect.value = String(v.version);
      showDiff();
    });
    return h('tr', { 'data-version': v.version },
      h('th', { scope: 'row', text: v.version === newest ? gettext('%(version)s (current)', { version: v.version }) : String(v.version) }),
      h('td', {}, h('time', { datetime: v.at, title: fullTime(v.at), text: fmtTime(v.at) })),
      h('td', { text: v.by ?? '' }),
      h('td', { text: v.summary ?? '' }),
      h('td', {}, h('div', { className: 'item-buttons' }, compare, restore)));
  }));
  for (const select of [fromSelect, toSelect]) {
    const chosen = select.value;
    put(select, ...versions.map((v) => h('option', { value: v.version, text: String(v.version) })));
    if (chosen && versions.some((v) => String(v.version) === chosen)) select.value = chosen;
  }
  if (!fromSelect.value || fromSelect.value === toSelect.value) {
    toSelect.value = String(versions[0]?.version ?? '');
    fromSelect.value = String(versions[1]?.version ?? versions[0]?.version ?? '');
  }
}

async function load() {
  const answer = await api('GET', `${BASE}/versions`).catch(() => null);
  if (!answer?.ok) {
    fail(detailText(answer?.data, gettext('The versions could not be loaded. Reload the page to try again.')));
    return;
  }
  versions = [...(answer.data.items ?? [])].sort((a, b) => b.version - a.version);
  drawRows();
}

// What changed between two versions, as GET …/diff writes it: both versions' YAML line by line.
function drawDiff(data) {
  // The YAML of both, line by line: {op: same | add | remove, text}; long runs of unchanged
  // lines fold to a count, keeping a little context around each change.
  const lines = Array.isArray(data.lines) ? data.lines : [];
  if (!lines.some((line) => line.op !== 'same')) return h('p', { text: gettext('No differences.') });
  const near = lines.map(() => false);
  lines.forEach((line, index) => {
    if (line.op === 'same') return;
    for (let k = Math.max(0, index - CONTEXT); k <= Math.min(lines.length - 1, index + CONTEXT); k += 1) near[k] = true;
  });
  const out = [];
  let folded = 0;
  const fold = () => {
    if (folded) out.push(h('span', { className: 'muted', text: `⋯ ${ngettext('%(num)d unchanged line', '%(num)d unchanged lines', folded)}` }));
    folded = 0;
  };
  lines.forEach((line, index) => {
    if (!near[index]) {
      folded += 1;
      return;
    }
    fold();
    if (line.op === 'add') out.push(h('ins', {}, h('span', { className: 'visually-hidden', text: gettext('added:') }), `+ ${line.text}`));
    else if (line.op === 'remove') out.push(h('del', {}, h('span', { className: 'visually-hidden', text: gettext('removed:') }), `- ${line.text}`));
    else out.push(h('span', { text: `  ${line.text}` }));
  });
  fold();
  return h('pre', { className: 'diff-text' }, ...out);
}

async function showDiff(event) {
  event?.preventDefault();
  const from = fromSelect.value;
  const to = toSelect.value;
  if (!from || !to) return;
  put(result, h('p', { className: 'muted', text: gettext('Loading…') }));
  const query = new URLSearchParams({ from, to });
  const answer = await api('GET', `${BASE}/diff?${query}`).catch(() => null);
  if (!answer?.ok) {
    put(result, h('p', { className: 'field-error', text: detailText(answer?.data, gettext('The changes could not be loaded.')) }));
    return;
  }
  put(result,
    h('h3', { text: gettext('From version %(from)s to version %(to)s', { from, to }) }),
    drawDiff(answer.data ?? {}));
}

async function restoreVersion(version) {
  if (!window.confirm(gettext('Restore version %(version)s? It is saved again as a new version; nothing is lost.', { version }))) return;
  alertBox.hidden = true;
  const answer = await api('POST', `${BASE}/versions/${version}/restore`).catch(() => null);
  if (!answer?.ok) {
    fail(detailText(answer?.data, gettext('Not restored.')));
    return;
  }
  const now = answer.data?.version;
  statusLine.textContent = gettext('Version %(version)s restored as version %(new)s.', { version, new: now ?? '' });
  await load();
  rows.querySelector('tr th')?.setAttribute('tabindex', '-1');
}

document.getElementById('diff-form').addEventListener('submit', showDiff);
load();
