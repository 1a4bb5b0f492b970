// A client company's versions: who saved each and when, what changed between any two, and
// restoring one (after a confirmation) as a new version.

import { api, detailText, fmtTime, gettext, h, put } from './ui.js';

const DATA = JSON.parse(document.getElementById('versions-data')?.textContent ?? '{}');
const BASE = `/api/v1/clients/${encodeURIComponent(DATA.slug)}`;
const rows = document.getElementById('version-rows');
const statusLine = document.getElementById('versions-status');
const alertBox = document.getElementById('versions-alert');
const fromSelect = document.getElementById('diff-from');
const toSelect = document.getElementById('diff-to');
const result = document.getElementById('diff-result');

let versions = [];

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

function value(text) {
  if (text === undefined) return gettext('(none)');
  return typeof text === 'string' ? text : JSON.stringify(text, null, 1);
}

// The changes as the API writes them: the lines of both versions' YAML (or a list of
// {path, before, after}).
function drawDiff(data) {
  const changes = data.changes ?? data.items;
  if (Array.isArray(changes)) {
    if (!changes.length) return h('p', { text: gettext('No differences.') });
    return h('ul', { className: 'diff' }, ...changes.map((change) => {
      const before = change.before ?? change.old ?? change.from;
      const after = change.after ?? change.new ?? change.to;
      return h('li', {},
        h('span', { className: 'path', text: change.path ?? change.field ?? '' }),
        before === undefined ? null : h('pre', {}, h('del', { text: value(before) })),
        after === undefined ? null : h('pre', {}, h('ins', { text: value(after) })));
    }));
  }
  // The YAML of both, line by line: {op: same | add | remove, text}.
  const lines = Array.isArray(data.lines) ? data.lines : [];
  if (!lines.some((line) => line.op !== 'same')) return h('p', { text: gettext('No differences.') });
  return h('pre', { className: 'diff-text' }, ...lines.map((line) => {
    if (line.op === 'add') return h('ins', {}, h('span', { className: 'visually-hidden', text: gettext('added:') }), `+ ${line.text}\n`);
    if (line.op === 'remove') return h('del', {}, h('span', { className: 'visually-hidden', text: gettext('removed:') }), `- ${line.text}\n`);
    return `  ${line.text}\n`;
  }));
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
