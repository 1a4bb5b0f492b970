// Callbacks owed: memos nobody at the company acknowledged, which an operator must phone
// about. Listed most overdue first; an operator takes one, calls, and records how it went.
// Refetched when console.js relays a task or memo event (one event stream per page).

import {
  CATEGORY, CHANNEL, DELIVERY_STATUS, MEMO_STATUS, URGENCY, api, debounce, detailText,
  fmtDuration, fmtTime, gettext, h, ngettext, put, telLink,
} from './ui.js';
import { OUTCOME, outcomeForm } from './callback_form.js';

const root = document.getElementById('console');
const USER_ID = root.dataset.userId;
const IS_OPERATOR = root.dataset.role === 'operator';
const listEl = document.getElementById('callbacks');
const statusEl = document.getElementById('callbacks-status');
const formTemplate = document.getElementById('callback-form-template');

const TAKEN_ELSEWHERE = gettext('Another operator is handling this.');

let tasks = [];
const cards = new Map(); // task id -> {el, mode, form, expanded}
const notes = new Map(); // task id -> message shown on its card until the next action
const companies = new Map(); // slug -> {contacts: Map(key -> name), fields: Map(key -> label)}
let fetchSeq = 0;
let statusTimer = null;

// ---------------------------------------------------------------- data

async function loadCompanies() {
  let result;
  try { result = await api('GET', '/api/v1/clients'); } catch { return; }
  if (!result.ok) return;
  for (const company of result.data.items ?? []) {
    companies.set(company.slug, {
      contacts: new Map((company.contacts ?? []).map((c) => [c.key, c.name])),
      fields: new Map((company.fields ?? []).map((f) => [f.key, f.label])),
    });
  }
}

async function refresh() {
  const seq = ++fetchSeq;
  let result;
  try { result = await api('GET', '/api/v1/tasks'); } catch { return; }
  if (seq !== fetchSeq || !result.ok) return;
  tasks = result.data.items;
  if (tasks.some((task) => !companies.has(task.client))) await loadCompanies();
  render();
}

const scheduleRefresh = debounce(refresh, 150);

function say(message) {
  clearTimeout(statusTimer);
  statusEl.textContent = message;
  statusTimer = setTimeout(() => { statusEl.textContent = ''; }, 8000);
}

// ---------------------------------------------------------------- drawing

function modeOf(task) {
  if (task.status === 'taken') return task.taken_by === USER_ID ? 'mine' : 'other';
  return IS_OPERATOR ? 'open' : 'watch';
}

function lateSeconds(task) {
  return (Date.now() - new Date(task.due_at).getTime()) / 1000;
}

function contactName(task) {
  return companies.get(task.client)?.contacts.get(task.contact) ?? '';
}

function renderHead(task) {
  const late = lateSeconds(task);
  const overdue = task.overdue || late > 0;
  const span = fmtDuration(Math.abs(late));
  return h('div', { className: 'cb-head' },
    h('span', { className: 'cb-due' },
      h('time', { datetime: task.due_at, text: fmtTime(task.due_at) }),
      overdue
        ? h('span', { className: 'cb-late' }, late < 60 ? gettext('due now') : gettext('%(span)s late', { span }))
        : h('span', { className: 'muted' }, ' ', gettext('in %(span)s', { span }))),
    h('span', { className: 'cb-company', text: task.client_name }),
    task.urgency === 'urgent' ? h('span', { className: 'badge danger', text: URGENCY.urgent }) : null,
    h('span', { className: 'cb-attempts muted small' }, ngettext('%(num)d try', '%(num)d tries', task.attempts)));
}

function renderContact(task) {
  const name = contactName(task);
  return h('p', { className: 'cb-contact' },
    h('span', { className: 'muted', text: `${gettext('Call:')} ` }),
    name ? h('strong', { text: name }) : null,
    task.contact ? h('span', { className: 'muted small', text: ` (${task.contact}) ` }) : null,
    task.phone
      ? telLink(task.phone, task.phone_display, { 'aria-label': gettext('Call %(name)s on %(phone)s', { name: name || task.contact || '', phone: task.phone_display || task.phone }) })
      : h('span', { className: 'field-error', text: gettext('No phone number on record') }));
}

function renderLast(task) {
  if (!task.outcome && !task.note) return null;
  const outcome = OUTCOME[task.outcome] ?? task.outcome ?? '';
  return h('p', { className: 'cb-last muted small' }, gettext('Last time: %(outcome)s', { outcome }), task.note ? ` — ${task.note}` : '');
}

function renderActions(entry, task) {
  const slot = entry.el.querySelector('.cb-actions');
  entry.form = null;
  if (entry.mode === 'open') {
    const take = h('button', { type: 'button', className: 'take' }, gettext('Take'));
    take.addEventListener('click', () => takeTask(task.id, take));
    put(slot, take);
  } else if (entry.mode === 'mine') {
    entry.form = formFor(entry, task.id);
    put(slot, h('p', { className: 'cb-mine' }, gettext('Being handled (by you)')), entry.form);
  } else if (entry.mode === 'other') {
    put(slot, h('p', { className: 'muted' }, gettext('Being handled (by another operator)')));
  } else {
    put(slot, h('p', { className: 'muted small' }, gettext('Not started')));
  }
}

function renderCard(entry, task) {
  const { el } = entry;
  const mode = modeOf(task);
  el.dataset.state = mode;
  el.dataset.overdue = String(task.overdue || lateSeconds(task) > 0);
  el.classList.toggle('urgent', task.urgency === 'urgent');
  put(el.querySelector('.cb-head-slot'), renderHead(task));
  put(el.querySelector('.cb-subject-text'), task.subject);
  const contactKey = JSON.stringify([contactName(task), task.contact, task.phone, task.outcome, task.note]);
  if (contactKey !== entry.contactKey) {
    // Redrawn only when it changes, so a phone link in focus keeps it.
    entry.contactKey = contactKey;
    put(el.querySelector('.cb-contact-slot'), renderContact(task), renderLast(task));
  }
  const note = el.querySelector('.cb-note');
  note.hidden = !notes.has(task.id);
  note.textContent = notes.get(task.id) ?? '';
  if (mode !== entry.mode) {
    // Only a change of hands rebuilds the form, so typing is never lost to a refresh.
    const hadFocus = el.querySelector('.cb-actions').contains(document.activeElement);
    entry.mode = mode;
    renderActions(entry, task);
    if (hadFocus) focusTask(entry);
  }
}

function newCard(task) {
  const id = `callback-${task.id}`;
  const expand = h('button', {
    type: 'button', className: 'cb-expand', 'aria-expanded': 'false', 'aria-controls': `${id}-memo`,
  }, h('span', { className: 'cb-caret', 'aria-hidden': 'true', text: '▸' }), h('span', { className: 'cb-subject-text' }));
  const el = h('article', { className: 'callback', id, 'data-task-id': task.id },
    h('div', { className: 'cb-head-slot' }),
    h('div', { className: 'cb-subject' }, expand),
    h('div', { className: 'cb-memo', id: `${id}-memo`, hidden: true }),
    h('div', { className: 'cb-contact-slot' }),
    h('p', { className: 'cb-note field-error', role: 'alert', hidden: true }),
    h('div', { className: 'cb-actions' }));
  const entry = { el, mode: null, form: null, expanded: false, memoId: task.memo_id, contactKey: null };
  expand.addEventListener('click', () => toggleMemo(entry));
  return entry;
}

function render() {
  const seen = new Set();
  for (const task of tasks) {
    seen.add(task.id);
    let entry = cards.get(task.id);
    if (!entry) {
      entry = newCard(task);
      cards.set(task.id, entry);
    }
    renderCard(entry, task);
  }
  for (const [id, entry] of cards) {
    if (seen.has(id)) continue;
    if (entry.el.contains(document.activeElement)) document.getElementById('callbacks-title').focus();
    entry.el.remove();
    cards.delete(id);
    notes.delete(id);
  }
  const wanted = tasks.map((task) => cards.get(task.id).el);
  const current = [...listEl.children];
  if (wanted.length !== current.length || wanted.some((el, index) => el !== current[index])) {
    const focused = document.activeElement;
    listEl.append(...wanted);
    if (focused instanceof HTMLElement && listEl.contains(focused) && document.activeElement !== focused) {
      focused.focus({ preventScroll: true });
    }
  }
  const overdue = tasks.filter((task) => task.overdue || lateSeconds(task) > 0).length;
  document.getElementById('callbacks-empty').hidden = tasks.length > 0;
  const count = document.getElementById('callbacks-count');
  count.textContent = String(tasks.length);
  count.dataset.zero = tasks.length === 0 ? 'true' : 'false';
  const overdueEl = document.getElementById('callbacks-overdue');
  overdueEl.hidden = overdue === 0;
  overdueEl.textContent = ngettext('%(num)d overdue', '%(num)d overdue', overdue);
}

// ---------------------------------------------------------------- the memo behind a task

async function toggleMemo(entry) {
  const button = entry.el.querySelector('.cb-expand');
  const panel = entry.el.querySelector('.cb-memo');
  entry.expanded = !entry.expanded;
  button.setAttribute('aria-expanded', String(entry.expanded));
  entry.el.querySelector('.cb-caret').textContent = entry.expanded ? '▾' : '▸';
  panel.hidden = !entry.expanded;
  if (!entry.expanded) return;
  put(panel, h('p', { className: 'muted small', text: gettext('Loading…') }));
  let result;
  try {
    result = await api('GET', `/api/v1/memos/${encodeURIComponent(entry.memoId)}`);
  } catch {
    put(panel, h('p', { className: 'field-error', text: gettext('Offline.') }));
    return;
  }
  if (!result.ok) {
    put(panel, h('p', { className: 'field-error', text: detailText(result.data, gettext('Could not load the memo.')) }));
    return;
  }
  put(panel, memoDetail(result.data));
}

function memoDetail(memo) {
  const labels = companies.get(memo.client)?.fields ?? new Map();
  const rows = [
    [gettext('Received'), fmtTime(memo.created_at)],
    [gettext('Category'), `${CATEGORY[memo.category] ?? memo.category} · ${URGENCY[memo.urgency] ?? memo.urgency}`],
    [gettext('Caller'), memo.caller.company ? gettext('%(caller)s (%(company)s)', { caller: memo.caller.name || '—', company: memo.caller.company }) : (memo.caller.name || '—')],
    [gettext('Call back'), memo.caller.phone ? telLink(memo.caller.phone, memo.caller.phone_display) : '—'],
    [gettext('Details'), h('span', { className: 'cb-body', text: memo.body || '—' })],
    ...Object.entries(memo.fields ?? {}).map(([key, value]) => [labels.get(key) ?? key, String(value ?? '')]),
    [gettext('Status'), gettext('%(status)s (code %(code)s)', { status: MEMO_STATUS[memo.status] ?? memo.status, code: memo.ack_code })],
    [gettext('Deliveries'), h('ul', { className: 'cb-deliveries' }, memo.deliveries.map((d) => h('li', {},
      `${CHANNEL[d.channel] ?? d.channel} → ${d.to_display ?? d.to}: ${DELIVERY_STATUS[d.status] ?? d.status}`)))],
  ];
  return [
    h('dl', { className: 'cb-facts' }, rows.map(([label, value]) => h('div', {}, h('dt', { text: label }), h('dd', {}, value)))),
    h('p', {}, h('a', { href: `/memos/${encodeURIComponent(memo.id)}`, target: '_blank', rel: 'noopener', text: gettext('The memo and its whole trail') })),
  ];
}

// ---------------------------------------------------------------- taking and recording

async function takeTask(id, button) {
  notes.delete(id);
  button.disabled = true;
  let result;
  try {
    result = await api('POST', `/api/v1/tasks/${encodeURIComponent(id)}/take`);
  } catch {
    button.disabled = false;
    notes.set(id, gettext('Offline: please try again.'));
    render();
    return;
  }
  if (result.status === 409) notes.set(id, TAKEN_ELSEWHERE);
  else if (result.status === 404) say(gettext('This callback is already done.'));
  else if (!result.ok) notes.set(id, detailText(result.data, gettext('Could not take it.')));
  else tasks = tasks.map((task) => (task.id === id ? result.data : task));
  button.disabled = false;
  const entry = cards.get(id);
  if (result.ok && entry) {
    render();
    focusTask(entry);
  }
  await refresh();
}

function formFor(entry, taskId) {
  return outcomeForm({
    template: formTemplate,
    idBase: `${entry.el.id}-form`,
    taskId,
    onStale: refresh,
    onRecorded: async (task, body, form) => {
      say(body.outcome === 'acknowledged'
        ? gettext('Recorded: %(who)s confirmed “%(subject)s” for %(company)s.', { who: body.confirmed_by, subject: task.subject, company: task.client_name })
        : gettext('Recorded: %(outcome)s. Next call at %(time)s.', { outcome: OUTCOME[body.outcome], time: fmtTime(task.due_at) }));
      if (form.contains(document.activeElement)) document.getElementById('callbacks-title').focus();
      await refresh();
    },
  });
}

// ---------------------------------------------------------------- keyboard

function focusTask(entry) {
  const target = entry.form
    ? (entry.form.querySelector('input[name="outcome"]:checked') ?? entry.form.querySelector('input[name="outcome"]'))
    : entry.el.querySelector('.take') ?? entry.el.querySelector('.cb-expand');
  entry.el.scrollIntoView({ block: 'nearest' });
  target?.focus();
}

document.addEventListener('keydown', (event) => {
  if (event.isComposing || event.keyCode === 229) return;
  if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === 'KeyC') {
    event.preventDefault();
    const mine = [...cards.values()].find((entry) => entry.mode === 'mine');
    const first = mine ?? cards.get(tasks.find((task) => modeOf(task) === 'open')?.id) ?? cards.get(tasks[0]?.id);
    if (first) focusTask(first);
    else document.getElementById('callbacks-title').focus();
  }
});

// ---------------------------------------------------------------- start

root.addEventListener('relay:event', scheduleRefresh);
root.addEventListener('relay:live', scheduleRefresh);
setInterval(render, 30_000); // how late each callback is moves on with the clock
loadCompanies().then(refresh);
