// The supervisor's board: six panels drawn from GET /api/v1/board, refetched whenever a
// memo or a callback changes (server-sent events) and every minute; ages tick every 30 s.

import {
  CATEGORY, CHANNEL, LOCALE, MEMO_STATUS, URGENCY, debounce, fmtDuration, fmtTime, gettext,
  h, put, liveStream, telLink, api,
} from './ui.js';

const LATE_SECONDS = 15 * 60; // waiting this long stands out
const STALE_SECONDS = 60 * 60; // and this long, urgently
const TICK_MS = 30_000;
const REFETCH_MS = 60_000;
const TASK_STATUS = { open: gettext('Not started'), taken: gettext('Being handled') };
const ACTION = { notify: gettext('Notify'), operator_callback: gettext('Operator callback') };

const liveEl = document.getElementById('live');
const BASE_TITLE = document.title;
let board = JSON.parse(document.getElementById('board-data').textContent || '{}');
let fetchedAt = Date.now();
let fetchSeq = 0;

// Seconds elapsed on the server's clock since the board was fetched, added to its figures.
function since() {
  return Math.floor((Date.now() - fetchedAt) / 1000);
}

function lateness(seconds) {
  if (seconds >= STALE_SECONDS) return 'stale';
  return seconds >= LATE_SECONDS ? 'late' : null;
}

// An age that tick() moves on: `base` is the server's figure when the board was fetched.
function age(base) {
  return h('span', { className: 'age', 'data-base': base, text: fmtDuration(base + since()) });
}

function tick() {
  for (const el of document.querySelectorAll('.age[data-base]')) {
    const seconds = Number(el.dataset.base) + since();
    el.textContent = fmtDuration(seconds);
    const row = el.closest('tr.waiting-row');
    if (row) {
      const late = lateness(seconds);
      row.classList.toggle('late', late === 'late');
      row.classList.toggle('stale', late === 'stale');
    }
  }
}

function company(item) {
  return h('td', { className: 'company', text: item.client_name });
}

function subject(item) {
  return h('td', { className: 'subject' },
    h('a', { href: `/memos/${encodeURIComponent(item.memo_id)}`, text: item.subject }),
    h('span', { className: 'muted small', text: ` ${CATEGORY[item.category] ?? item.category}` }));
}

function urgency(item) {
  const urgent = item.urgency === 'urgent';
  return h('span', { className: urgent ? 'badge danger' : 'badge', text: URGENCY[item.urgency] ?? item.urgency });
}

function waitingRow(item) {
  const late = lateness(item.age_seconds + since());
  const classes = ['waiting-row', item.urgency === 'urgent' ? 'urgent' : null, late].filter(Boolean).join(' ');
  return h('tr', { 'data-memo-id': item.memo_id, className: classes },
    h('td', { className: 'age-cell' }, age(item.age_seconds)),
    company(item),
    subject(item),
    h('td', {}, urgency(item)),
    h('td', {}, h('span', { className: `badge memo-${item.status}`, text: MEMO_STATUS[item.status] ?? item.status })),
    h('td', {}, item.next_escalation_at
      ? h('time', { datetime: item.next_escalation_at, text: fmtTime(item.next_escalation_at) })
      : h('span', { className: 'muted', text: '—' })));
}

function failedRow(item) {
  return h('tr', { 'data-delivery-id': item.delivery_id, className: item.urgency === 'urgent' ? 'urgent' : null },
    h('td', {}, h('time', { datetime: item.failed_at, text: fmtTime(item.failed_at) })),
    company(item),
    subject(item),
    h('td', {}, h('span', { className: 'badge', text: CHANNEL[item.channel] ?? item.channel })),
    h('td', { className: 'to' },
      item.to_display ?? item.to,
      item.contact ? h('span', { className: 'muted small', text: ` (${item.contact})` }) : null),
    h('td', { className: 'error' },
      item.error_code ? h('code', { text: item.error_code }) : null,
      item.error_code && item.error ? ' ' : null,
      item.error || (item.error_code ? null : '—')));
}

// Each failed delivery of a memo nobody received, with the reason a person can act on.
function unreachedRow(item) {
  return h('tr', { 'data-memo-id': item.memo_id, className: item.urgency === 'urgent' ? 'urgent stale' : 'stale' },
    h('td', {}, h('time', { datetime: item.failed_at, text: fmtTime(item.failed_at) })),
    company(item),
    subject(item),
    h('td', {}, urgency(item)),
    h('td', { className: 'error' },
      h('ul', { className: 'reasons' }, ...item.deliveries.map((d) => h('li', { 'data-delivery-id': d.delivery_id },
        h('span', { className: 'badge', text: CHANNEL[d.channel] ?? d.channel }),
        ' ',
        h('span', { className: 'to', text: d.to_display ?? d.to }),
        d.contact ? h('span', { className: 'muted small', text: ` (${d.contact})` }) : null,
        ' ',
        d.error_code ? h('code', { text: d.error_code }) : null,
        d.error_code ? ' ' : null,
        d.error || (d.error_code ? null : '—'))))));
}

function escalationRow(item) {
  return h('tr', { 'data-memo-id': item.memo_id, className: item.acknowledged ? 'done' : null },
    h('td', {}, h('time', { datetime: item.fired_at, text: fmtTime(item.fired_at) })),
    company(item),
    subject(item),
    h('td', { className: 'num', text: `${item.step + 1}` }),
    h('td', {}, ACTION[item.action] ?? item.action),
    h('td', {}, item.acknowledged
      ? h('span', { className: 'badge memo-acknowledged', text: gettext('Confirmed') })
      : h('span', { className: 'badge warn', text: gettext('Not confirmed') })));
}

function overdueRow(item) {
  return h('tr', { 'data-task-id': item.task_id, className: item.urgency === 'urgent' ? 'urgent stale' : 'stale' },
    h('td', { className: 'age-cell' }, age(item.overdue_seconds)),
    company(item),
    subject(item),
    h('td', {}, item.contact ? `${item.contact} ` : null, telLink(item.phone, item.phone_display) ?? h('span', { className: 'muted', text: gettext('no number') })),
    h('td', {}, h('span', { className: `badge task-${item.status}` }, TASK_STATUS[item.status] ?? item.status)));
}

function followUpRow(item) {
  return h('tr', { 'data-memo-id': item.memo_id, className: item.urgency === 'urgent' ? 'urgent stale' : 'stale' },
    h('td', { className: 'age-cell' }, age(item.overdue_seconds)),
    company(item),
    subject(item),
    h('td', {}, h('time', { datetime: item.follow_up_due, text: fmtTime(item.follow_up_due) })));
}

const PANELS = [
  ['waiting', 'waiting', waitingRow],
  ['unreached', 'unreached', unreachedRow],
  ['failed', 'failed_deliveries', failedRow],
  ['escalations', 'escalations', escalationRow],
  ['overdue', 'overdue_callbacks', overdueRow],
  ['follow-ups', 'overdue_follow_ups', followUpRow],
];

function render() {
  for (const [id, key, row] of PANELS) {
    const items = board[key] ?? [];
    put(document.getElementById(id), items.map(row));
    document.getElementById(`${id}-empty`).hidden = items.length > 0;
    document.getElementById(id).closest('.table-wrap').hidden = items.length === 0;
    const count = document.getElementById(`${id}-count`);
    count.textContent = String(items.length);
    count.dataset.zero = items.length === 0 ? 'true' : 'false';
  }
  const waiting = (board.waiting ?? []).length;
  document.title = waiting ? `(${waiting}) ${gettext('Waiting for acknowledgement')} · ${BASE_TITLE}` : BASE_TITLE;
  const stamp = document.getElementById('updated-at');
  stamp.dateTime = new Date(fetchedAt).toISOString();
  stamp.textContent = new Date(fetchedAt).toLocaleTimeString(LOCALE);
}

async function refresh() {
  const seq = ++fetchSeq;
  let result;
  try { result = await api('GET', '/api/v1/board'); } catch { return; }
  if (seq !== fetchSeq) return; // a newer fetch is on its way
  if (result.status === 401) { window.location.assign('/login?next=%2Fboard'); return; }
  if (!result.ok) return;
  board = result.data;
  fetchedAt = Date.now();
  render();
}

const scheduleRefresh = debounce(refresh, 250);

// ---------------------------------------------------------------- live connection

render();
liveStream({
  indicator: liveEl,
  onOpen: refresh, // whatever changed while the stream was down
  handlers: ['memo.created', 'memo.updated', 'task.created', 'task.updated'].map((type) => [
    type,
    scheduleRefresh,
  ]),
});
setInterval(tick, TICK_MS);
// Not every change sends an event (a delivery failing over, say): look again now and then.
setInterval(refresh, REFETCH_MS);
