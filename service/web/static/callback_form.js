// The outcome of a callback: reached and confirmed (who confirmed), or not reached (no answer,
// left a message) and when to try again: in 15, 30 or 60 minutes, or at a time of day.

import { api, detailText, fmtTime, gettext } from './ui.js';

export const OUTCOME = {
  acknowledged: gettext('Reached, confirmed'),
  no_answer: gettext('No answer'),
  left_message: gettext('Left a message'),
};

// The next moment the clock shows `value` ("HH:MM"): today, or tomorrow if that has passed.
export function nextAt(value) {
  const [hours, minutes] = value.split(':').map(Number);
  if (Number.isNaN(hours) || Number.isNaN(minutes)) return null;
  const at = new Date();
  at.setHours(hours, minutes, 0, 0);
  if (at.getTime() <= Date.now() + 60_000) at.setDate(at.getDate() + 1); // a time past means tomorrow
  return at;
}

// The form of one taken callback (a clone of `template`); calls onRecorded(task, body, form)
// once the server has the outcome, and onStale() when the task turned out gone or not ours.
export function outcomeForm({ template, idBase, taskId, onRecorded, onStale }) {
  const form = template.content.firstElementChild.cloneNode(true);
  const { confirmed_by: confirmedBy, note, retry_at: retryAt } = form.elements;
  confirmedBy.id = `${idBase}-confirmed-by`;
  form.querySelector('.confirmed-by-label').htmlFor = confirmedBy.id;
  note.id = `${idBase}-note`;
  form.querySelector('.note-label').htmlFor = note.id;
  const error = form.querySelector('.field-error');
  const when = form.querySelector('.retry-when');

  const sync = () => {
    error.hidden = true;
    const outcome = form.elements.outcome.value;
    form.querySelector('.confirmed-by').hidden = outcome !== 'acknowledged';
    form.querySelector('.retry').hidden = !outcome || outcome === 'acknowledged';
    const at = form.elements.retry.value === 'at' && retryAt.value ? nextAt(retryAt.value) : null;
    when.textContent = at ? `→ ${fmtTime(at)}` : '';
  };
  form.addEventListener('change', sync);
  form.addEventListener('input', () => { error.hidden = true; });
  retryAt.addEventListener('input', () => {
    form.querySelector('input[name="retry"][value="at"]').checked = true;
    sync();
  });
  form.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.isComposing || event.keyCode === 229) return;
    if (event.ctrlKey || event.metaKey) {
      event.preventDefault();
      event.stopPropagation(); // this records the callback, not a memo draft
      form.requestSubmit();
      return;
    }
    const target = event.target;
    if (target instanceof HTMLTextAreaElement || target instanceof HTMLButtonElement) return;
    // As in the memo form, a plain Enter moves on and never records by accident; on a choice
    // it picks that choice first.
    event.preventDefault();
    if (target.type === 'radio') {
      target.checked = true;
      sync();
    }
    const order = [...form.querySelectorAll('input, textarea, button')].filter((c) => c.offsetParent !== null);
    let next = order.indexOf(target) + 1;
    while (order[next]?.type === 'radio' && order[next].name === target.name) next += 1;
    order[next]?.focus();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    recordOutcome({ taskId, form, error, onRecorded, onStale });
  });
  sync();
  return form;
}

function fail(error, message, control) {
  error.hidden = false;
  error.textContent = message;
  control?.focus();
}

async function recordOutcome({ taskId, form, error, onRecorded, onStale }) {
  const { elements } = form;
  const outcome = elements.outcome.value;
  const body = { outcome, note: elements.note.value.trim() };
  if (!outcome) { fail(error, gettext('Choose an outcome.'), form.querySelector('input[name="outcome"]')); return; }
  if (outcome === 'acknowledged') {
    body.confirmed_by = elements.confirmed_by.value.trim();
    if (!body.confirmed_by) { fail(error, gettext('Enter the name of who confirmed.'), elements.confirmed_by); return; }
  } else if (elements.retry.value === 'at') {
    const at = elements.retry_at.value ? nextAt(elements.retry_at.value) : null;
    if (!at) { fail(error, gettext('Enter when to try again.'), elements.retry_at); return; }
    body.retry_at = at.toISOString();
  } else {
    body.retry_in_minutes = Number(elements.retry.value || 30);
  }
  error.hidden = true;
  const button = form.querySelector('.record');
  button.disabled = true;
  let result;
  try {
    result = await api('POST', `/api/v1/tasks/${encodeURIComponent(taskId)}/outcome`, { json: body });
  } catch {
    button.disabled = false;
    fail(error, gettext('Offline: please try again.'));
    return;
  }
  button.disabled = false;
  if (!result.ok) {
    fail(error, detailText(result.data, gettext('Could not record it (%(status)s).', { status: result.status })));
    if (result.status === 409 || result.status === 404) onStale();
    return;
  }
  await onRecorded(result.data, body, form);
}
