// Relay operator console: ringing calls arrive over server-sent events; memo drafts live in
// localStorage until the server has them, so a reload or a lost connection loses nothing.
// Everything taken from the server or the user is inserted with textContent, never as HTML.

import {
  CATEGORY, MEMO_STATUS, URGENCY, detailText, eventData, gettext, h, liveStream, ngettext,
  put,
} from '/static/ui.js';

const root = document.getElementById('console');
const USER_ID = root.dataset.userId;
const CAN_TAKE_MEMOS = root.dataset.canTakeMemos === 'true';
// A supervisor (admin) may end a call another operator answered; operators end only their own.
const IS_SUPERVISOR = root.dataset.role === 'admin';
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? '';
const STORE_PREFIX = `relay.console.${USER_ID}.draft.`;
const COMPANIES = JSON.parse(document.getElementById('console-companies').textContent || '[]');
const BASE_TITLE = document.title;

const CALL_STATUS = {
  queued: gettext('ringing'), ringing: gettext('ringing'), 'in-progress': gettext('in call'),
  completed: gettext('ended'), busy: gettext('busy'), failed: gettext('Failed'),
  'no-answer': gettext('No answer'), canceled: gettext('canceled'),
};
const FLAG_KIND = {
  harassment: gettext('Harassment'), abusive: gettext('Abusive language'),
  repeat: gettext('Repeated nuisance calls'), other: gettext('Other'),
};
const SEND_STATE = {
  draft: gettext('Unsent'),
  sending: gettext('Sending…'),
  retry: gettext('Unsent, will retry'),
  sent: gettext('Sent'),
};
// The memo's own fields a script question can lead to (`field: caller.name` in the company's
// script), as the company's extra fields are: the question then holds the field itself.
const STANDARD_FIELDS = new Set(['caller.name', 'caller.phone', 'caller.company', 'category', 'urgency', 'subject', 'body']);
const RINGING = new Set(['queued', 'ringing']);
const ACTIVE = new Set(['queued', 'ringing', 'in-progress']);

const callsEl = document.getElementById('calls');
const draftsEl = document.getElementById('drafts');
const memoRowsEl = document.getElementById('memo-rows');
const liveEl = document.getElementById('live');

const calls = new Map(); // call id -> {detail, el}: the cards of calls ringing or in progress
const endedCalls = new Map(); // call id -> last detail of an ended call, for its open memo
const callSeq = new Map(); // call id -> number of the latest look-up
const drafts = new Map(); // draft id -> {draft, el, form, sending, retryTimer, retryDelay}

// ---------------------------------------------------------------- small helpers

const timeFormat = new Intl.DateTimeFormat('ja-JP', {
  month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit',
});

function fmtTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : timeFormat.format(date);
}

function newKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; plain http on a LAN address has only this.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function api(method, path, { json, headers = {} } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (method !== 'GET') init.headers['X-CSRF-Token'] = CSRF;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const response = await fetch(path, init); // a network failure throws: callers keep their state
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401) showSignedOut();
  return { ok: response.ok, status: response.status, data };
}

function showSignedOut() {
  if (document.getElementById('signed-out')) return;
  const link = h('a', { href: '/login?next=%2Fconsole', text: gettext('Sign in again') });
  root.prepend(h('p', { id: 'signed-out', className: 'notice danger', role: 'alert' },
    gettext('Signed out; drafts are kept on this device.'), ' ', link));
}

// ---------------------------------------------------------------- calls

function callState(detail) {
  if (RINGING.has(detail.status)) return 'ringing';
  return ACTIVE.has(detail.status) ? 'active' : 'ended';
}

function takenByOther(detail) {
  return Boolean(detail.answered_by) && detail.answered_by !== USER_ID;
}

async function loadActiveCalls() {
  let result;
  try { result = await api('GET', '/api/v1/calls?active=true'); } catch { return; }
  if (!result.ok) return;
  const activeIds = new Set(result.data.items.map((item) => item.id));
  for (const item of result.data.items) refreshCall(item.id);
  for (const id of calls.keys()) {
    if (!activeIds.has(id)) refreshCall(id); // ended while this console was not listening
  }
}

// A call event says enough to redraw a card at once (who has it, whether it ended); the full
// detail (company, caller history) follows from the server.
function applyCallEvent(data) {
  if (!data.id) return;
  const entry = calls.get(data.id);
  if (entry && data.status) {
    entry.detail = {
      ...entry.detail,
      status: data.status,
      answered_by: data.answered_by ?? null,
      answered_by_name: data.answered_by_name ?? null,
    };
    if (callState(entry.detail) === 'ended') {
      callSeq.set(data.id, (callSeq.get(data.id) ?? 0) + 1); // a look-up in flight is stale
      showCall(entry.detail);
      return;
    }
    renderCall(entry);
    orderCalls();
    updateCallsChrome();
  }
  refreshCall(data.id);
}

async function refreshCall(id) {
  const seq = (callSeq.get(id) ?? 0) + 1;
  callSeq.set(id, seq);
  let result;
  try { result = await api('GET', `/api/v1/calls/${encodeURIComponent(id)}`); } catch { return; }
  if (callSeq.get(id) !== seq) return; // a newer look-up of this call is on its way
  if (result.ok) showCall(result.data);
  else if (result.status === 404) removeCall(id);
}

// Ringing calls first (the one waiting longest on top), then calls in progress, then ended ones.
function orderCalls() {
  const rank = { ringing: 0, active: 1, ended: 2 };
  const wanted = [...calls.values()].sort((a, b) => {
    const byState = rank[callState(a.detail)] - rank[callState(b.detail)];
    if (byState !== 0) return byState;
    return a.detail.started_at < b.detail.started_at ? -1 : 1;
  }).map((entry) => entry.el);
  const current = [...callsEl.children];
  if (wanted.length === current.length && wanted.every((el, index) => el === current[index])) return;
  callsEl.append(...wanted);
}

function showCall(detail) {
  const draft = drafts.get(`call:${detail.id}`);
  if (callState(detail) === 'ended') {
    // An ended call leaves the console at once; a memo being written about it stays open.
    if (draft) endedCalls.set(detail.id, detail);
    removeCall(detail.id);
    if (draft) renderDraftHead(draft);
    return;
  }
  let entry = calls.get(detail.id);
  if (!entry) {
    const el = document.getElementById('call-card-template').content.firstElementChild.cloneNode(true);
    el.id = `call-${detail.id}`;
    entry = { detail, el };
    calls.set(detail.id, entry);
    wireCallCard(entry);
    callsEl.append(el);
  }
  entry.detail = detail;
  renderCall(entry);
  orderCalls();
  if (draft) renderDraftHead(draft);
  updateCallsChrome();
}

function removeCall(id) {
  const entry = calls.get(id);
  if (!entry) return;
  if (entry.el.contains(document.activeElement)) document.activeElement.blur();
  entry.el.remove();
  calls.delete(id);
  updateCallsChrome();
}

function callDetail(id) {
  return calls.get(id)?.detail ?? endedCalls.get(id) ?? null;
}

function updateCallsChrome() {
  document.getElementById('calls-empty').hidden = calls.size > 0;
  const ringing = [...calls.values()].filter((entry) => callState(entry.detail) === 'ringing').length;
  document.title = ringing ? `(${ringing}) ${gettext('Calls')} · ${BASE_TITLE}` : BASE_TITLE;
}

function renderCall(entry) {
  const { detail, el } = entry;
  const { company, caller } = detail;
  const state = callState(detail);
  const status = CALL_STATUS[detail.status] ?? detail.status;
  el.dataset.status = state;
  el.setAttribute('aria-label', `${company.name} ${detail.from_display ?? detail.from} ${status}`);

  const head = h('div', { className: 'call-head' },
    h('span', { className: 'call-company', text: company.name }),
    h('span', { className: `badge status-${state}`, text: status }),
    detail.source === 'simulated' ? h('span', { className: 'badge', text: gettext('simulated') }) : null,
    h('time', { datetime: detail.started_at, text: fmtTime(detail.started_at) }));
  const greeting = h('p', { className: 'greeting', lang: company.locale, text: company.greeting });
  const number = h('p', { className: 'caller-number' },
    h('span', { className: 'muted', text: `${gettext('Caller:')} ` }),
    h('strong', { className: 'phone', text: detail.from_display ?? detail.from }),
    caller.repeat_caller
      ? h('span', { className: 'badge repeat' }, ngettext('Repeat caller: %(num)d earlier call', 'Repeat caller: %(num)d earlier calls', caller.earlier_calls))
      : h('span', { className: 'badge' }, gettext('first call')));
  const taken = takenByOther(detail);
  const who = detail.answered_by_name || gettext('another operator');
  const takenNote = taken
    ? h('p', { className: 'taken-by', role: 'status' }, gettext('Taken by %(who)s', { who }))
    : null;
  // The answer is timed from when this console first sees the call picked up.
  if (state === 'active' && entry.answeredAt === undefined) entry.answeredAt = Date.now();
  const parts = [
    head, takenNote, flagWarning(caller.flags, entry), policyBox(caller.policy, entry), greeting,
    number, callerNotes(caller.notes), callerHistory(caller),
  ];
  put(el.querySelector('.call-info'), parts);
  el.dataset.taken = taken ? 'other' : (detail.answered_by ? 'mine' : 'nobody');
  if (taken) el.querySelector('.call-error')?.remove(); // the note says it better

  const mine = detail.answered_by === USER_ID;
  const answerButton = el.querySelector('.answer');
  // Another operator's call cannot be answered here, nor hung up (except by a supervisor).
  answerButton.hidden = !CAN_TAKE_MEMOS || taken || (mine && drafts.has(`call:${detail.id}`));
  answerButton.disabled = taken;
  answerButton.replaceChildren(...(mine
    ? [gettext('Open memo')]
    : [gettext('Answer'), ' ', h('kbd', { text: 'Alt+A' })]));
  const hangup = el.querySelector('.hangup');
  hangup.hidden = detail.source !== 'simulated' || (taken && !IS_SUPERVISOR);
  hangup.disabled = taken && !IS_SUPERVISOR;
}

function flagWarning(flags, entry) {
  if (!flags || flags.length === 0) return null;
  return h('div', { className: 'flag-warning' },
    h('p', { className: 'flag-title' }, `⚠ ${gettext('Flagged caller')}`),
    h('ul', {}, flags.map((flag) => {
      const lift = h('button', { type: 'button', className: 'link-button', text: gettext('Lift') });
      lift.addEventListener('click', () => liftFlag(flag, entry));
      return h('li', {},
        h('strong', { text: FLAG_KIND[flag.kind] ?? flag.kind }), ': ', flag.note,
        h('span', { className: 'flag-meta', text: ` — ${flag.flagged_by || gettext('unknown')} · ${fmtTime(flag.flagged_at)}` }),
        ' ', lift);
    })));
}

// The company's standing instruction for this caller, with its time limit counting down once
// the call is answered.
function policyBox(policy, entry) {
  if (!policy) return null;
  return h('div', { className: 'caller-policy', role: 'note' },
    h('p', { className: 'policy-title', text: gettext('How %(company)s wants this caller handled', { company: policy.client_name }) }),
    h('p', { className: 'policy-text', lang: entry.detail.company.locale, text: policy.text }),
    policy.time_limit_minutes ? h('p', { className: 'policy-limit', role: 'timer' }, limitText(policy.time_limit_minutes, entry)) : null);
}

function limitText(minutes, entry) {
  if (entry.answeredAt === undefined) return gettext('Time limit: %(minutes)s minutes', { minutes });
  const left = Math.round((minutes * 60000 - (Date.now() - entry.answeredAt)) / 1000);
  if (left <= 0) return gettext('Time limit of %(minutes)s minutes reached', { minutes });
  const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  return gettext('Time limit: %(minutes)s minutes · %(left)s left', { minutes, left: clock });
}

function tickLimits() {
  for (const entry of calls.values()) {
    const policy = entry.detail.caller?.policy;
    const line = entry.el.querySelector('.policy-limit');
    if (!policy?.time_limit_minutes || !line) continue;
    line.textContent = limitText(policy.time_limit_minutes, entry);
    line.dataset.over = String(entry.answeredAt !== undefined
      && Date.now() - entry.answeredAt >= policy.time_limit_minutes * 60000);
  }
}
setInterval(tickLimits, 1000);

// The latest notes the called company (or the bureau for it) keeps about this caller.
function callerNotes(notes) {
  if (!notes || notes.length === 0) return null;
  return h('div', { className: 'caller-notes' },
    h('p', { className: 'notes-title', text: gettext('Notes about this caller') }),
    h('ul', {}, notes.map((note) => h('li', {},
      h('span', { className: 'note-text', text: note.text }),
      h('span', { className: 'flag-meta', text: ` — ${note.written_by || gettext('unknown')} · ${fmtTime(note.written_at)}` })))));
}

function callerHistory(caller) {
  const items = [];
  for (const call of caller.calls.slice(0, 5)) {
    const label = CALL_STATUS[call.status] ?? call.status;
    items.push(h('li', {}, h('span', { className: 'muted', text: `${fmtTime(call.started_at)} ${gettext('call')} ` }),
      `${call.client_name} (${label})`));
  }
  for (const memo of caller.memos.slice(0, 5)) {
    items.push(h('li', {}, h('span', { className: 'muted', text: `${fmtTime(memo.created_at)} ${gettext('memo')} ` }),
      h('a', { href: `/memos/${encodeURIComponent(memo.id)}`, target: '_blank', rel: 'noopener' },
        `${memo.client_name} · ${CATEGORY[memo.category] ?? memo.category} · ${memo.subject} (${MEMO_STATUS[memo.status] ?? memo.status})`)));
  }
  if (items.length === 0) return null;
  return h('details', { className: 'history', open: true },
    h('summary', {}, gettext('History of this number (%(calls)s calls, %(memos)s memos)', { calls: caller.earlier_calls, memos: caller.memos.length })),
    h('ul', {}, items));
}

function wireCallCard(entry) {
  const { el } = entry;
  el.querySelector('.answer').addEventListener('click', () => answerCall(entry.detail.id));
  el.querySelector('.hangup').addEventListener('click', () => hangUp(entry));
  const form = el.querySelector('.flag-form');
  const kind = form.elements.kind;
  const note = form.elements.note;
  kind.id = `${el.id}-flag-kind`;
  note.id = `${el.id}-flag-note`;
  form.querySelector('.flag-kind-label').htmlFor = kind.id;
  form.querySelector('.flag-note-label').htmlFor = note.id;
  el.querySelector('.flag-open').addEventListener('click', () => {
    form.hidden = false;
    note.focus();
  });
  const close = () => { form.hidden = true; el.querySelector('.flag-open').focus(); };
  form.querySelector('.flag-cancel').addEventListener('click', close);
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { event.preventDefault(); close(); }
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      event.stopPropagation(); // this sends the flag, not the memo
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = form.querySelector('.field-error');
    if (!note.value.trim()) {
      error.hidden = false;
      error.textContent = gettext('Describe what happened.');
      note.focus();
      return;
    }
    const path = `/api/v1/callers/${encodeURIComponent(entry.detail.from)}/flags`;
    let result;
    try {
      result = await api('POST', path, { json: { kind: kind.value, note: note.value.trim() } });
    } catch {
      error.hidden = false;
      error.textContent = gettext('Offline: please try again.');
      return;
    }
    if (!result.ok) {
      error.hidden = false;
      error.textContent = detailText(result.data, gettext('Could not flag the caller.'));
      return;
    }
    error.hidden = true;
    note.value = '';
    form.hidden = true;
    refreshCallsFrom(entry.detail.from);
  });
}

function refreshCallsFrom(phone) {
  for (const [id, entry] of calls) if (entry.detail.from === phone) refreshCall(id);
}

async function liftFlag(flag, entry) {
  // eslint-disable-next-line no-alert
  if (!window.confirm(`${gettext('Lift this flag?')}\n${flag.note}`)) return;
  try {
    await api('DELETE', `/api/v1/flags/${encodeURIComponent(flag.id)}`);
  } catch { return; }
  refreshCallsFrom(entry.detail.from);
}

function cardError(entry, message) {
  let error = entry.el.querySelector('.call-error');
  if (!error) {
    error = h('p', { className: 'field-error call-error', role: 'alert' });
    entry.el.querySelector('.call-actions').after(error);
  }
  error.textContent = message;
}

async function answerCall(id) {
  const entry = calls.get(id);
  if (!entry || !CAN_TAKE_MEMOS || takenByOther(entry.detail)) return;
  const button = entry.el.querySelector('.answer');
  button.disabled = true;
  let detail = entry.detail;
  try {
    const result = await api('POST', `/api/v1/calls/${encodeURIComponent(id)}/answer`);
    if (result.ok) {
      detail = result.data;
    } else if (result.status === 409 || result.status === 404) {
      // 409: another operator answered first, so the call is theirs; 404: it is gone.
      // Either way no memo opens here.
      button.disabled = false;
      cardError(entry, detailText(result.data, gettext('Could not answer.')));
      refreshCall(id);
      return;
    } else {
      cardError(entry, detailText(result.data, gettext('Could not answer.')));
    }
  } catch {
    // The phone is already in the operator's hand: open the memo anyway, the server learns later.
    cardError(entry, gettext('Offline; you can write the memo now.'));
  }
  button.disabled = false;
  const draftEntry = draftForCall(detail);
  showCall(detail);
  focusDraft(draftEntry);
}

async function hangUp(entry) {
  const id = entry.detail.id;
  try {
    const result = await api('POST', `/api/v1/calls/${encodeURIComponent(id)}/hangup`);
    if (result.ok) {
      showCall({ ...entry.detail, ...result.data });
      return;
    }
    cardError(entry, detailText(result.data, gettext('Could not hang up.')));
  } catch {
    cardError(entry, gettext('Offline.'));
  }
  refreshCall(id);
}

function answerNext() {
  const focused = [...calls.values()].find((entry) => entry.el.contains(document.activeElement));
  if (focused && !takenByOther(focused.detail)) { answerCall(focused.detail.id); return; }
  const waiting = [...calls.values()]
    .filter((entry) => callState(entry.detail) === 'ringing' && !entry.detail.answered_by)
    .sort((a, b) => (a.detail.started_at < b.detail.started_at ? -1 : 1));
  if (waiting.length > 0) { answerCall(waiting[0].detail.id); return; }
  const mine = [...calls.values()].find((entry) => entry.detail.answered_by === USER_ID
    && !drafts.has(`call:${entry.detail.id}`));
  if (mine) answerCall(mine.detail.id);
}

// ---------------------------------------------------------------- simulated calls

function wireSimulateForm() {
  const form = document.getElementById('simulate-form');
  if (!form) return;
  const error = document.getElementById('simulate-error');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = document.getElementById('simulate-submit');
    const body = { client: form.elements.client.value, from: form.elements.from.value.trim() };
    if (!body.from) {
      error.hidden = false;
      error.textContent = gettext('Enter the caller number.');
      form.elements.from.focus();
      return;
    }
    button.disabled = true;
    try {
      const result = await api('POST', '/api/v1/calls/simulate', { json: body });
      if (result.ok) {
        error.hidden = true;
        refreshCall(result.data.id);
      } else {
        error.hidden = false;
        error.textContent = detailText(result.data, gettext('Could not make the call.'));
      }
    } catch {
      error.hidden = false;
      error.textContent = gettext('Offline.');
    } finally {
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------- memo drafts

function storeKey(id) { return STORE_PREFIX + id; }

function saveDraft(entry) {
  entry.draft.savedAt = new Date().toISOString();
  try {
    localStorage.setItem(storeKey(entry.draft.id), JSON.stringify(entry.draft));
  } catch {
    formError(entry, gettext('Cannot save the draft on this device (storage is full).'));
  }
}

function forgetDraft(id) {
  try { localStorage.removeItem(storeKey(id)); } catch { /* nothing stored to forget */ }
}

function storedDrafts() {
  const found = [];
  for (let index = 0; index < localStorage.length; index += 1) {
    const key = localStorage.key(index);
    if (!key || !key.startsWith(STORE_PREFIX)) continue;
    try {
      const draft = JSON.parse(localStorage.getItem(key));
      if (draft && draft.id && draft.key) found.push(draft);
    } catch { /* an unreadable entry is left alone */ }
  }
  return found.sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
}

function companySnapshot(company) {
  const { slug, name, greeting, script, fields, locale } = company;
  return { slug, name, greeting, script: script ?? [], fields: fields ?? [], locale: locale ?? 'ja' };
}

function draftForCall(detail) {
  const id = `call:${detail.id}`;
  if (drafts.has(id)) return drafts.get(id);
  const entry = openDraft({
    id,
    key: newKey(),
    callId: detail.id,
    callSid: detail.call_sid,
    from: detail.from,
    fromDisplay: detail.from_display,
    client: detail.company.slug,
    company: companySnapshot(detail.company),
    values: { 'caller.phone': detail.from_display ?? detail.from, urgency: 'normal' },
    state: 'draft',
    createdAt: new Date().toISOString(),
    focus: null,
  });
  saveDraft(entry);
  return entry;
}

function newMemo() {
  if (!CAN_TAKE_MEMOS) return;
  const entry = openDraft({
    id: `new:${newKey()}`,
    key: newKey(),
    callId: null,
    callSid: null,
    from: null,
    client: '',
    company: null,
    values: { urgency: 'normal' },
    state: 'draft',
    createdAt: new Date().toISOString(),
    focus: 'client',
  });
  saveDraft(entry);
  entry.form.elements.client.focus();
}

function fieldId(entry, name) {
  return `${entry.el.id}-${name.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
}

function errorSlot(entry, control) {
  const id = `${control.id}-error`;
  let slot = document.getElementById(id);
  if (!slot) {
    slot = h('p', { className: 'field-error', id, hidden: true });
    control.after(slot);
    control.setAttribute('aria-describedby', id);
  }
  return slot;
}

function openDraft(draft) {
  const el = document.getElementById('draft-template').content.firstElementChild.cloneNode(true);
  el.id = `draft-${draft.id.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
  const form = el.querySelector('form');
  const entry = { draft, el, form, sending: false, retryTimer: null, retryDelay: 0 };
  drafts.set(draft.id, entry);

  for (const label of form.querySelectorAll('label[data-for]')) {
    const control = form.elements[label.dataset.for];
    control.id = fieldId(entry, control.name);
    label.htmlFor = control.id;
  }
  // Where each standard field lives in the memo column, to go back to when the script changes.
  entry.homes = new Map();
  for (const name of STANDARD_FIELDS) {
    const wrapper = form.elements[name].closest('.field');
    const home = document.createComment(name);
    wrapper.before(home);
    entry.homes.set(name, { wrapper, home });
  }
  const picker = form.elements.client;
  picker.id = fieldId(entry, 'client');
  el.querySelector('.company-pick label').htmlFor = picker.id;
  if (!draft.callId) {
    el.querySelector('.company-pick').hidden = false;
    picker.append(h('option', { value: '', text: gettext('Choose a company') }),
      ...COMPANIES.map((company) => h('option', { value: company.slug, text: company.name })));
    picker.value = draft.client || '';
    picker.addEventListener('change', () => chooseCompany(entry, picker.value));
  } else {
    picker.disabled = true; // a call's company is fixed by the number it rang
  }

  buildScript(entry);
  fillValues(entry);
  renderDraftHead(entry);
  wireDraft(entry);
  draftsEl.prepend(el);
  document.getElementById('drafts-empty').hidden = true;
  return entry;
}

function stepFields(step) {
  if (!step.field) return [];
  return Array.isArray(step.field) ? step.field : [step.field];
}

function buildScript(entry) {
  const { company } = entry.draft;
  const list = entry.el.querySelector('.script');
  const extra = entry.el.querySelector('.extra-fields');
  // Moving a field takes the cursor out of it: only those that must move do, and the cursor
  // comes back after (the company can arrive while the operator is already typing).
  const focused = entry.el.contains(document.activeElement) ? document.activeElement : null;
  const declaredKeys = new Set((company?.fields ?? []).map((field) => field.key));
  const led = new Set((company?.script ?? []).flatMap(stepFields).filter((name) => !declaredKeys.has(name)));
  for (const [name, { wrapper, home }] of entry.homes) {
    if (!led.has(name) && home.nextSibling !== wrapper) home.after(wrapper);
  }
  list.replaceChildren();
  extra.replaceChildren();
  buildSteps(entry, list, extra);
  if (focused && focused !== document.activeElement && focused.isConnected) focused.focus();
}

function buildSteps(entry, list, extra) {
  const { company, callId } = entry.draft;
  if (!company) {
    list.append(h('li', { className: 'muted' }, gettext('Choose a company to see its script.')));
    return;
  }
  const declared = new Map(company.fields.map((field) => [field.key, field]));
  const placed = new Set();
  if (callId) {
    list.append(h('li', { className: 'step say first' },
      h('span', { className: 'step-kind', text: gettext('Greeting') }),
      h('p', { className: 'step-text', lang: company.locale, text: company.greeting })));
  }
  for (const step of company.script) {
    const say = step.say !== null && step.say !== undefined;
    const item = h('li', { className: `step ${say ? 'say' : 'ask'}` },
      h('span', { className: 'step-kind', text: say ? gettext('Say') : gettext('Ask') }),
      h('p', { className: 'step-text', lang: company.locale, text: say ? step.say : step.ask }));
    // The question holds the fields its answer goes into, so the cursor follows the script:
    // Enter or Tab after one answer lands on the next question's field.
    const targets = [];
    for (const name of stepFields(step)) {
      if (placed.has(name)) continue;
      if (declared.has(name)) { // the company's own field first, as it always was
        const wrapper = customField(entry, declared.get(name));
        item.append(wrapper);
        targets.push(wrapper.querySelector(`[name="fields.${name}"]`));
        placed.add(name);
      } else if (entry.homes.has(name)) {
        const { wrapper } = entry.homes.get(name);
        item.append(wrapper);
        targets.push(wrapper.querySelector(`[name="${name}"]`));
        placed.add(name);
      }
    }
    if (targets.length > 0) {
      item.classList.add('has-field');
      item.querySelector('.step-text').addEventListener('click', () => targets[0].focus());
    }
    list.append(item);
  }
  const rest = company.fields.filter((field) => !placed.has(field.key));
  if (rest.length > 0) {
    extra.append(h('h4', {}, gettext('More fields')), ...rest.map((field) => customField(entry, field)));
  }
}

function customField(entry, field) {
  const name = `fields.${field.key}`;
  const id = fieldId(entry, name);
  return h('div', { className: 'field custom' },
    h('label', { for: id }, field.label, field.required ? h('span', { className: 'req', text: gettext('required') }) : null),
    h('input', {
      type: 'text', id, name, maxlength: 1000, autocomplete: 'off', required: field.required,
    }));
}

function controls(entry) {
  return [...entry.form.elements].filter((control) => control.name && control.name !== 'client');
}

function fillValues(entry) {
  for (const control of controls(entry)) {
    const value = entry.draft.values[control.name];
    if (value !== undefined) control.value = value;
  }
}

function readValues(entry) {
  for (const control of controls(entry)) entry.draft.values[control.name] = control.value;
}

async function chooseCompany(entry, slug) {
  readValues(entry);
  entry.draft.client = slug;
  entry.draft.company = null;
  clearErrors(entry);
  if (slug) {
    try {
      const result = await api('GET', `/api/v1/clients/${encodeURIComponent(slug)}`);
      if (result.ok && entry.draft.client === slug) entry.draft.company = companySnapshot(result.data);
      else if (!result.ok) formError(entry, detailText(result.data, gettext('Could not load the company.')));
    } catch {
      formError(entry, gettext('Offline: could not load the company.'));
    }
  }
  buildScript(entry);
  fillValues(entry);
  renderDraftHead(entry);
  saveDraft(entry);
}

function renderDraftHead(entry) {
  const { draft } = entry;
  const title = entry.el.querySelector('.draft-title');
  if (draft.callId) {
    const call = callDetail(draft.callId);
    const status = call ? (CALL_STATUS[call.status] ?? call.status) : null;
    const flagged = call && call.caller.flags.length > 0;
    put(title,
      h('strong', { text: draft.company?.name ?? draft.client }),
      h('span', { className: 'phone', text: ` ${gettext('call from %(phone)s', { phone: draft.fromDisplay ?? draft.from })}` }),
      status ? h('span', { className: 'badge', text: status }) : null,
      flagged ? h('span', { className: 'badge danger', text: `⚠ ${gettext('Flagged')}` }) : null);
  } else {
    put(title, h('strong', { text: gettext('New memo') }),
      h('span', { className: 'muted', text: draft.company ? ` ${draft.company.name}` : ` (${gettext('no call')})` }));
  }
  const state = entry.el.querySelector('.send-state');
  state.dataset.state = draft.state;
  state.replaceChildren(SEND_STATE[draft.state] ?? SEND_STATE.draft);
  entry.el.dataset.state = draft.state;
  entry.el.querySelector('.send').disabled = entry.sending || draft.state === 'sent';
}

function setState(entry, state) {
  entry.draft.state = state;
  if (state !== 'sent') saveDraft(entry);
  renderDraftHead(entry);
}

function focusable(entry) {
  return [...entry.form.querySelectorAll('input, select, textarea, button')]
    .filter((control) => !control.disabled && !control.hidden && control.offsetParent !== null);
}

function focusDraft(entry) {
  const wanted = entry.draft.focus && entry.form.elements[entry.draft.focus];
  const target = wanted instanceof HTMLElement ? wanted : focusable(entry)[0];
  entry.el.scrollIntoView({ block: 'nearest' });
  target?.focus();
}

function wireDraft(entry) {
  const { form } = entry;
  const onEdit = (event) => {
    const control = event.target;
    if (!control.name || control.name === 'client') return;
    entry.draft.values[control.name] = control.value;
    clearFieldError(control);
    saveDraft(entry);
  };
  form.addEventListener('input', onEdit);
  form.addEventListener('change', onEdit);
  form.addEventListener('focusin', (event) => {
    if (event.target.name) {
      entry.draft.focus = event.target.name;
      saveDraft(entry);
    }
  });
  form.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.isComposing || event.keyCode === 229) return;
    if (event.ctrlKey || event.metaKey) return; // Ctrl/⌘+Enter is handled for the whole page
    const target = event.target;
    if (target instanceof HTMLTextAreaElement || target instanceof HTMLButtonElement) return;
    // A plain Enter never sends a memo by accident: it moves on to the next field.
    event.preventDefault();
    const order = focusable(entry);
    const next = order[order.indexOf(target) + 1];
    if (next && !next.classList.contains('send')) next.focus();
  });
  // Only the send button and Ctrl/⌘+Enter send. The button is not a submit button, so the
  // browser's implicit submission (an Enter in a field, even mid-IME) has nothing to press.
  form.addEventListener('submit', (event) => event.preventDefault());
  entry.el.querySelector('.send').addEventListener('click', () => submitDraft(entry));
  entry.el.querySelector('.discard').addEventListener('click', () => {
    // eslint-disable-next-line no-alert
    if (window.confirm(gettext('Discard this draft?'))) closeDraft(entry);
  });
}

function closeDraft(entry) {
  clearTimeout(entry.retryTimer);
  forgetDraft(entry.draft.id);
  drafts.delete(entry.draft.id);
  if (entry.el.contains(document.activeElement)) document.activeElement.blur();
  entry.el.remove();
  document.getElementById('drafts-empty').hidden = drafts.size > 0;
  const call = entry.draft.callId && calls.get(entry.draft.callId);
  if (call) showCall(call.detail);
  if (entry.draft.callId) endedCalls.delete(entry.draft.callId);
}

// ---------------------------------------------------------------- errors

function formError(entry, message) {
  const slot = entry.el.querySelector('.form-error');
  slot.hidden = !message;
  slot.textContent = message || '';
}

function clearFieldError(control) {
  const slot = control.id && document.getElementById(`${control.id}-error`);
  if (slot) { slot.hidden = true; slot.textContent = ''; }
  control.removeAttribute('aria-invalid');
}

function clearErrors(entry) {
  for (const control of [entry.form.elements.client, ...controls(entry)]) clearFieldError(control);
  formError(entry, '');
}

function setFieldError(entry, control, message) {
  const slot = errorSlot(entry, control);
  slot.hidden = false;
  slot.textContent = message;
  control.setAttribute('aria-invalid', 'true');
}

function controlFor(entry, field) {
  const path = field ? field.split('.') : [];
  for (let size = path.length; size > 0; size -= 1) {
    const name = path.slice(0, size).join('.');
    const control = entry.form.elements[name];
    if (control instanceof HTMLElement && !control.disabled) return control;
  }
  return null;
}

// The fields a refusal names ({field, message}, worded by the server in the page's
// language), else its one message.
function problemsOf(data, fallback) {
  if (Array.isArray(data?.errors) && data.errors.length) return data.errors;
  return [{ field: '', message: detailText(data, fallback) }];
}

function showErrors(entry, problems) {
  clearErrors(entry);
  let first = null;
  const loose = [];
  for (const item of problems) {
    const control = controlFor(entry, item.field);
    if (control) {
      setFieldError(entry, control, item.message);
      first = first ?? control;
    } else {
      loose.push(item.message);
    }
  }
  formError(entry, loose.length ? gettext('Could not send: %(reasons)s', { reasons: loose.join(' / ') }) : gettext('Please check the marked fields.'));
  first?.focus();
}

function localProblems(entry) {
  const { draft, form } = entry;
  const problems = [];
  const required = gettext('Required.');
  if (!draft.client) problems.push({ field: 'client', message: required });
  if (!form.elements.category.value) problems.push({ field: 'category', message: gettext('Choose one from the list.') });
  if (!form.elements.subject.value.trim()) problems.push({ field: 'subject', message: required });
  for (const field of draft.company?.fields ?? []) {
    const control = form.elements[`fields.${field.key}`];
    if (field.required && control && !control.value.trim()) {
      problems.push({ field: `fields.${field.key}`, message: required });
    }
  }
  return problems;
}

// ---------------------------------------------------------------- sending

function payload(draft) {
  const values = draft.values;
  const text = (name) => (values[name] ?? '').trim();
  const fields = {};
  for (const field of draft.company?.fields ?? []) {
    const value = text(`fields.${field.key}`);
    if (value) fields[field.key] = value;
  }
  return {
    client: draft.client,
    call_sid: draft.callSid || null,
    category: values.category || '',
    urgency: values.urgency || 'normal',
    caller: {
      name: text('caller.name'),
      phone: text('caller.phone') || null,
      company: text('caller.company') || null,
    },
    subject: text('subject'),
    body: values.body ?? '',
    fields,
  };
}

async function submitDraft(entry) {
  if (entry.sending || entry.draft.state === 'sent' || !drafts.has(entry.draft.id)) return;
  clearTimeout(entry.retryTimer);
  readValues(entry);
  const problems = localProblems(entry);
  if (problems.length > 0) {
    if (entry.draft.state === 'retry') setState(entry, 'draft');
    showErrors(entry, problems);
    return;
  }
  clearErrors(entry);
  entry.sending = true;
  setState(entry, 'sending');
  let result;
  try {
    result = await api('POST', '/api/v1/memos', {
      json: payload(entry.draft),
      headers: { 'Idempotency-Key': entry.draft.key },
    });
  } catch {
    entry.sending = false;
    waitAndRetry(entry, gettext('Offline: the draft is saved and will be sent when the connection is back.'));
    return;
  }
  entry.sending = false;
  if (result.ok) {
    sent(entry, result.data);
  } else if (result.status >= 500 || result.status === 429 || result.status === 408) {
    waitAndRetry(entry, gettext('The server is not answering; it will be sent again.'));
  } else if (result.status === 401) {
    setState(entry, 'draft');
    formError(entry, gettext('Signed out: sign in again, then send (the draft is saved).'));
  } else {
    setState(entry, 'draft');
    showErrors(entry, problemsOf(result.data, gettext('Could not send (%(status)s).', { status: result.status })));
  }
}

function waitAndRetry(entry, message) {
  entry.retryDelay = Math.min(Math.max(entry.retryDelay * 2, 1000), 15000);
  setState(entry, 'retry');
  formError(entry, message);
  clearTimeout(entry.retryTimer);
  entry.retryTimer = setTimeout(() => submitDraft(entry), entry.retryDelay);
}

function retryWaitingDrafts() {
  for (const entry of drafts.values()) {
    if (entry.draft.state === 'retry' || entry.draft.state === 'sending') {
      entry.retryDelay = 0;
      submitDraft(entry);
    }
  }
}

function sent(entry, memo) {
  clearTimeout(entry.retryTimer);
  entry.retryDelay = 0;
  forgetDraft(entry.draft.id);
  setState(entry, 'sent');
  formError(entry, '');
  for (const control of entry.form.elements) control.disabled = true;
  entry.el.querySelector('.discard').hidden = true;
  entry.el.querySelector('.form-error').after(h('p', { className: 'sent-note', role: 'status' },
    gettext('Memo sent. Code %(code)s', { code: memo.ack_code })));
  showMemoFirst(memo);
  setTimeout(() => closeDraft(entry), 3000);
}

// ---------------------------------------------------------------- memo list

let memoTimer = null;

function scheduleMemoRefresh() {
  clearTimeout(memoTimer);
  memoTimer = setTimeout(refreshMemos, 150);
}

async function refreshMemos() {
  let result;
  try { result = await api('GET', '/api/v1/memos?limit=20'); } catch { return; }
  if (!result.ok) return;
  memoRowsEl.replaceChildren(...result.data.items.map(memoRow));
  document.getElementById('memos-empty').hidden = result.data.items.length > 0;
}

function memoRow(memo) {
  const urgent = memo.urgency === 'urgent';
  return h('tr', { 'data-id': memo.id, className: urgent ? 'urgent' : null },
    h('td', {}, h('time', { datetime: memo.created_at, text: fmtTime(memo.created_at) })),
    h('td', { text: memo.client_name }),
    h('td', { text: CATEGORY[memo.category] ?? memo.category }),
    h('td', {}, h('span', { className: urgent ? 'badge danger' : 'badge', text: URGENCY[memo.urgency] ?? memo.urgency })),
    h('td', { className: 'subject' }, h('a', { href: `/memos/${encodeURIComponent(memo.id)}`, text: memo.subject })),
    h('td', {}, h('span', { className: `badge memo-${memo.status}`, text: MEMO_STATUS[memo.status] ?? memo.status })));
}

function showMemoFirst(memo) {
  memoRowsEl.querySelector(`tr[data-id="${CSS.escape(memo.id)}"]`)?.remove();
  const row = memoRow(memo);
  row.classList.add('fresh');
  memoRowsEl.prepend(row);
  document.getElementById('memos-empty').hidden = true;
}

// ---------------------------------------------------------------- keyboard

function draftInFocus() {
  const focused = [...drafts.values()].find((entry) => entry.el.contains(document.activeElement));
  if (focused) return focused;
  if (document.activeElement?.closest('form')) return null; // another form has the keyboard
  const open = [...drafts.values()].filter((entry) => entry.draft.state !== 'sent');
  return open.length === 1 ? open[0] : null;
}

document.addEventListener('keydown', (event) => {
  if (event.isComposing || event.keyCode === 229) return; // the IME owns this key press
  if ((event.altKey && !event.ctrlKey && !event.metaKey && event.code === 'KeyA') || event.key === 'F2') {
    event.preventDefault();
    answerNext();
  } else if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === 'KeyN') {
    event.preventDefault();
    newMemo();
  } else if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    const entry = draftInFocus();
    if (entry) {
      event.preventDefault();
      submitDraft(entry);
    }
  }
});

// ---------------------------------------------------------------- start

document.getElementById('new-memo')?.addEventListener('click', newMemo);
wireSimulateForm();
window.addEventListener('online', retryWaitingDrafts);

const restored = storedDrafts().map(openDraft);
const lastEdited = restored.slice().sort((a, b) => (a.draft.savedAt < b.draft.savedAt ? 1 : -1))[0];
if (lastEdited) focusDraft(lastEdited);
for (const entry of restored) {
  if (entry.draft.callId) refreshCall(entry.draft.callId); // has its call ended meanwhile?
  if (entry.draft.state === 'sending' || entry.draft.state === 'retry') {
    // It may or may not have reached the server: the same Idempotency-Key makes resending safe.
    waitAndRetry(entry, gettext('Checking the last attempt… (it will be sent again)'));
  }
}
loadActiveCalls();
refreshMemos();
liveStream({
  indicator: liveEl,
  onOpen: () => {
    loadActiveCalls();
    refreshMemos();
    retryWaitingDrafts();
    root.dispatchEvent(new CustomEvent('relay:live'));
  },
  handlers: [
    ...['call.ringing', 'call.updated'].map((type) => [type, (message) => {
      applyCallEvent(eventData(message));
    }]),
    ...['memo.created', 'memo.updated'].map((type) => [type, scheduleMemoRefresh]),
    // The rest of the page (the callbacks owed) follows the console's one stream through these.
    ...['memo.updated', 'task.created', 'task.updated'].map((type) => [type, (message) => {
      root.dispatchEvent(new CustomEvent('relay:event', { detail: { type, data: eventData(message) } }));
    }]),
  ],
});
