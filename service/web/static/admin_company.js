// One client company in forms (docs/clients.md, every key): drawn from GET /api/v1/clients/{slug},
// saved whole with PUT and If-Match, refusals shown beside their fields, and a live preview.
// The document being edited is the one truth: every input writes into it at once, so redrawing
// the form (after adding, moving or removing an item) never loses what was typed. Keys the form
// does not show are kept as they came.

import { CATEGORY, CHANNEL, CSRF, DELIVERY_STATUS, URGENCY, debounce, detailText, fmtTime, gettext, h, ngettext, put } from './ui.js';

const DATA = JSON.parse(document.getElementById('editor-data')?.textContent ?? '{}');
const SLUG = DATA.slug ?? null; // null: a new company
const READ_ONLY = ['version', 'updated_at', 'sms_opted_out'];
const STANDARD_FIELDS = {
  'caller.name': gettext("Caller's name"),
  'caller.phone': gettext("Caller's number"),
  'caller.company': gettext("Caller's company"),
  category: gettext('Category'),
  urgency: gettext('Urgency'),
  subject: gettext('Subject'),
  body: gettext('Details'),
};
const CHANNELS = ['email', 'sms', 'voice'];
const DAYS = {
  mon: gettext('Mon'), tue: gettext('Tue'), wed: gettext('Wed'), thu: gettext('Thu'),
  fri: gettext('Fri'), sat: gettext('Sat'), sun: gettext('Sun'),
};
const TEMPLATES = [
  ['email_subject', gettext('Email subject'), 1],
  ['email_text', gettext('Email text'), 8],
  ['email_html', gettext('Email HTML'), 8],
  ['sms', gettext('SMS'), 4],
];
const SAVED_KEY = 'relay.admin.saved';

const form = document.getElementById('company-form');
const sections = document.getElementById('form-sections');
const alertBox = document.getElementById('form-alert');
const saveStatus = document.getElementById('save-status');
const saveButton = document.getElementById('save-button');

let doc = null;
let etag = null;
let optedOut = [];

// ---- the document -------------------------------------------------------------------------

function blank() {
  return {
    slug: '', name: '', phone_numbers: [], locale: DATA.locale === 'en' ? 'en' : 'ja', greeting: '',
    script: [], fields: [],
    contacts: [{ key: '', name: '', email: '' }],
    routing: [{ notify: [], channels: ['email'] }],
    escalation: [],
  };
}

function stripReadOnly(data) {
  const copy = structuredClone(data);
  for (const key of READ_ONLY) delete copy[key];
  return copy;
}

function get(path) {
  let value = doc;
  for (const part of path) value = value?.[part];
  return value;
}

function set(path, value) {
  let parent = doc;
  for (const part of path.slice(0, -1)) {
    if (parent[part] === undefined || parent[part] === null) parent[part] = typeof part === 'number' ? [] : {};
    parent = parent[part];
  }
  const last = path.at(-1);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
}

function list(path) {
  const found = get(path);
  if (Array.isArray(found)) return found;
  set(path, []);
  return get(path);
}

// What goes to the server: optional parts left empty are left out, as in a YAML file.
function outgoing() {
  const out = structuredClone(doc);
  if (SLUG) out.slug = SLUG;
  for (const key of ['fields', 'escalation', 'script', 'phone_numbers']) {
    if (Array.isArray(out[key]) && out[key].length === 0) delete out[key];
  }
  if (out.templates) {
    for (const [key, value] of Object.entries(out.templates)) if (!value) delete out.templates[key];
    if (Object.keys(out.templates).length === 0) delete out.templates;
  }
  if (out.hours && Array.isArray(out.hours.holidays) && out.hours.holidays.length === 0) delete out.hours.holidays;
  for (const rule of out.routing ?? []) {
    if (rule.when && Object.keys(rule.when).length === 0) delete rule.when;
  }
  return out;
}

// ---- controls -----------------------------------------------------------------------------

const idOf = (path) => `cf-${path.join('-')}`;

// Whether the form holds changes not saved yet: leaving the page then asks first.
let dirty = false;

function changed() {
  dirty = true;
  schedulePreview();
}

window.addEventListener('beforeunload', (event) => {
  if (dirty) event.preventDefault();
});

function hint(id, text) {
  return text ? h('p', { className: 'hint', id: `${id}-hint`, text }) : null;
}

// A text input or textarea bound to `path`; `optional` leaves the key out when emptied.
function textField(path, label, { rows = 0, help = '', optional = false, type = 'text', inputmode, autocomplete = 'off', className, onCommit } = {}) {
  const id = idOf(path);
  const value = get(path);
  const control = rows > 1
    ? h('textarea', { id, rows, 'aria-describedby': help ? `${id}-hint` : null })
    : h('input', { id, type, inputmode, autocomplete, 'aria-describedby': help ? `${id}-hint` : null });
  control.value = value ?? '';
  control.addEventListener('input', () => {
    clearError(control);
    set(path, optional && control.value.trim() === '' ? undefined : control.value);
    changed();
  });
  if (onCommit) control.addEventListener('change', onCommit);
  return h('div', { className: `field ${className ?? ''}` }, h('label', { for: id, text: label }), hint(id, help), control);
}

function selectField(path, label, options, { optional = false, onChange } = {}) {
  const id = idOf(path);
  const control = h('select', { id });
  for (const [value, text] of options) control.append(h('option', { value, text }));
  const value = get(path);
  if (value !== undefined && value !== null && !options.some(([v]) => v === value)) {
    control.append(h('option', { value, text: value })); // a value this form does not know stays
  }
  control.value = value ?? '';
  control.addEventListener('change', () => {
    clearError(control);
    set(path, optional && control.value === '' ? undefined : control.value);
    onChange?.();
    changed();
  });
  return h('div', { className: 'field' }, h('label', { for: id, text: label }), control);
}

// Checkboxes for a list of values at `path` (contacts, channels, days); values already in the
// list that the options do not name are shown too, so a stale one can be seen and unticked.
function checkGroup(path, legend, options, { help = '' } = {}) {
  const id = idOf(path);
  const values = Array.isArray(get(path)) ? get(path) : [];
  const all = [...options];
  for (const value of values) if (!all.some(([v]) => v === value)) all.push([value, value]);
  const group = h('fieldset', { id, className: 'check-group', 'aria-describedby': help ? `${id}-hint` : null },
    h('legend', { text: legend }), hint(id, help));
  if (all.length === 0) group.append(h('p', { className: 'muted small', text: gettext('Nothing to choose yet.') }));
  for (const [value, text] of all) {
    const box = h('input', { type: 'checkbox', id: `${id}-${value}`, value });
    box.checked = values.includes(value);
    box.addEventListener('change', () => {
      clearError(box);
      clearError(group);
      const current = Array.isArray(get(path)) ? [...get(path)] : [];
      const next = box.checked ? [...current.filter((v) => v !== value), value] : current.filter((v) => v !== value);
      set(path, next);
      changed();
    });
    group.append(h('label', { className: 'check', for: box.id }, box, ' ', text));
  }
  return group;
}

// The Up / Down / Remove buttons of item `index` of the list at `path`; `move(to, focus)` moves
// it and focuses the button named `focus` on its new place.
function itemButtons(items, index, path, move, name) {
  const base = idOf([...path, index]);
  const box = h('div', { className: 'item-buttons' });
  const up = h('button', {
    type: 'button', className: 'secondary', id: `${base}-up`, disabled: index === 0,
    'aria-label': gettext('%(item)s: move up', { item: name }), text: gettext('Up'),
  });
  const down = h('button', {
    type: 'button', className: 'secondary', id: `${base}-down`, disabled: index === items.length - 1,
    'aria-label': gettext('%(item)s: move down', { item: name }), text: gettext('Down'),
  });
  const remove = h('button', {
    type: 'button', className: 'secondary danger', id: `${base}-remove`,
    'aria-label': gettext('%(item)s: remove', { item: name }), text: gettext('Remove'),
  });
  up.addEventListener('click', () => move(index - 1, index - 1 === 0 ? 'down' : 'up'));
  down.addEventListener('click', () => move(index + 1, index + 1 === items.length - 1 ? 'up' : 'down'));
  remove.addEventListener('click', () => {
    items.splice(index, 1);
    const focus = items.length === 0 ? `${idOf(path)}-add` : `${idOf([...path, Math.min(index, items.length - 1)])}-remove`;
    redraw(focus);
    announce(gettext('%(item)s removed.', { item: name }));
  });
  box.append(up, down, remove);
  return box;
}

function addButton(path, label, make) {
  const button = h('button', { type: 'button', className: 'secondary add', id: `${idOf(path)}-add`, text: label });
  button.addEventListener('click', () => {
    const items = list(path);
    items.push(make());
    redraw(null);
    // Focus the new item's first control.
    const added = document.getElementById(idOf([...path, items.length - 1]));
    (added?.matches('input') ? added : added?.querySelector('input, select, textarea'))?.focus();
  });
  return button;
}

function item(path, index, title, ...children) {
  const id = idOf([...path, index]);
  return h('fieldset', { className: 'item', id },
    h('legend', { text: title }),
    ...children,
    itemButtons(list(path), index, path, (to, suffix) => {
      const items = list(path);
      const [moved] = items.splice(index, 1);
      items.splice(to, 0, moved);
      redraw(`${idOf([...path, to])}-${suffix}`);
      announce(gettext('%(item)s is now number %(position)d.', { item: title, position: to + 1 }));
    }, title));
}

function section(key, title, help, ...children) {
  return h('section', { className: 'form-section', id: `section-${key}`, 'aria-labelledby': `section-${key}-title` },
    h('h2', { id: `section-${key}-title`, text: title }),
    help ? h('p', { className: 'hint', text: help }) : null,
    ...children);
}

// ---- the parts of a company ---------------------------------------------------------------

function basics() {
  return section('basics', gettext('The company'), '',
    SLUG
      ? h('p', {}, h('span', { className: 'muted', text: `${gettext('Slug')}: ` }), h('code', { text: SLUG }))
      : textField(['slug'], gettext('Slug'), { help: gettext('Lower-case letters a-z, digits and -, e.g. sakura-dental. It names the company in addresses and cannot change later.') }),
    textField(['name'], gettext('Name')),
    selectField(['locale'], gettext('Language of its script and memos'), [['ja', gettext('Japanese')], ['en', gettext('English')]]),
    textField(['greeting'], gettext('Greeting'), { rows: 3, help: gettext('What the operator says on answering.') }),
  );
}

function phoneNumbers() {
  const path = ['phone_numbers'];
  const numbers = list(path);
  const rows = numbers.map((_, index) => {
    const id = idOf([...path, index]);
    const control = textField([...path, index], gettext('Number %(n)d', { n: index + 1 }), { type: 'tel', inputmode: 'tel', className: 'grow' });
    const remove = h('button', {
      type: 'button', className: 'secondary danger', id: `${id}-remove`,
      'aria-label': gettext('%(item)s: remove', { item: gettext('Number %(n)d', { n: index + 1 }) }), text: gettext('Remove'),
    });
    remove.addEventListener('click', () => {
      numbers.splice(index, 1);
      redraw(numbers.length ? `${idOf([...path, Math.min(index, numbers.length - 1)])}-remove` : `${idOf(path)}-add`);
    });
    return h('div', { className: 'inline-row' }, control, remove);
  });
  return section('phone_numbers', gettext('Phone numbers'),
    gettext('The numbers this company answers on, with + and the country code, e.g. +81 50-1234-5678. A number belongs to one company.'),
    h('div', { id: idOf(path), tabindex: '-1' }, ...rows),
    addButton(path, gettext('Add a number'), () => ''));
}

function fieldChoices() {
  const own = (Array.isArray(doc.fields) ? doc.fields : []).filter((f) => f.key).map((f) => [f.key, f.label ? `${f.label} (${f.key})` : f.key]);
  return [...Object.entries(STANDARD_FIELDS), ...own];
}

function scriptSteps() {
  const path = ['script'];
  const steps = list(path);
  const items = steps.map((step, index) => {
    const stepPath = [...path, index];
    const kind = step.say !== undefined && step.ask === undefined ? 'say' : 'ask';
    const title = gettext('Step %(n)d', { n: index + 1 });
    const kindId = `${idOf(stepPath)}-kind`;
    const kindSelect = h('select', { id: kindId },
      h('option', { value: 'say', text: gettext('Say (read out)') }),
      h('option', { value: 'ask', text: gettext('Ask (a question)') }));
    kindSelect.value = kind;
    kindSelect.addEventListener('change', () => {
      const text = step.say ?? step.ask ?? '';
      delete step.say;
      delete step.ask;
      step[kindSelect.value] = text;
      if (kindSelect.value === 'say') delete step.field;
      redraw(kindId);
    });
    const children = [
      h('div', { className: 'field' }, h('label', { for: kindId, text: gettext('Kind') }), kindSelect),
      textField([...stepPath, kind], kind === 'say' ? gettext('What the operator reads') : gettext('What the operator asks'), { rows: 2 }),
    ];
    if (kind === 'ask') children.push(stepFields(stepPath, step, title));
    return item(path, index, title, ...children);
  });
  return section('script', gettext('Script'),
    gettext('What the operator reads and asks, in order. A question can write its answer into memo fields.'),
    ...items,
    addButton(path, gettext('Add a step'), () => ({ ask: '' })));
}

// The memo fields a question's answer goes into, in the order asked.
function stepFields(stepPath, step, title) {
  const fieldPath = [...stepPath, 'field'];
  const names = step.field === undefined || step.field === null ? [] : (Array.isArray(step.field) ? step.field : [step.field]);
  const store = (next) => {
    if (next.length === 0) delete step.field;
    else step.field = next.length === 1 ? next[0] : next;
  };
  const choices = fieldChoices();
  const group = h('fieldset', { className: 'step-fields', id: idOf(fieldPath) },
    h('legend', { text: gettext('Answer goes into') }));
  if (names.length === 0) group.append(h('p', { className: 'muted small', text: gettext('No field: the answer is not kept in a field.') }));
  names.forEach((name, position) => {
    const id = idOf([...fieldPath, position]);
    const select = h('select', { id });
    for (const [value, text] of choices) select.append(h('option', { value, text }));
    if (!choices.some(([value]) => value === name)) select.append(h('option', { value: name, text: name }));
    select.value = name;
    select.addEventListener('change', () => {
      clearError(select);
      const next = [...names];
      next[position] = select.value;
      store(next);
      changed();
    });
    const label = gettext('Field %(n)d of %(step)s', { n: position + 1, step: title });
    const remove = h('button', {
      type: 'button', className: 'secondary danger', 'aria-label': gettext('%(item)s: remove', { item: label }), text: gettext('Remove'),
    });
    remove.addEventListener('click', () => {
      store(names.filter((_, i) => i !== position));
      redraw(`${idOf(fieldPath)}-add`);
    });
    group.append(h('div', { className: 'inline-row' },
      h('div', { className: 'field grow' }, h('label', { for: id, className: 'visually-hidden', text: label }), select), remove));
  });
  const add = h('button', { type: 'button', className: 'secondary add', id: `${idOf(fieldPath)}-add`, text: gettext('Link a field') });
  add.addEventListener('click', () => {
    const unused = choices.map(([value]) => value).find((value) => !names.includes(value));
    store([...names, unused ?? 'body']);
    redraw(idOf([...fieldPath, names.length]));
  });
  group.append(add);
  return group;
}

function memoFields() {
  const path = ['fields'];
  const items = list(path).map((_, index) => {
    const p = [...path, index];
    const required = h('input', { type: 'checkbox', id: idOf([...p, 'required']) });
    required.checked = Boolean(get([...p, 'required']));
    required.addEventListener('change', () => {
      set([...p, 'required'], required.checked ? true : undefined);
      changed();
    });
    return item(path, index, gettext('Field %(n)d', { n: index + 1 }),
      textField([...p, 'key'], gettext('Key'), { help: gettext('a-z first, then a-z, 0-9 and _, e.g. patient_no'), onCommit: refreshChoices }),
      textField([...p, 'label'], gettext('Label'), { onCommit: refreshChoices }),
      h('label', { className: 'check', for: required.id }, required, ' ', gettext('Required: a memo without it is refused')));
  });
  return section('fields', gettext('Memo fields'),
    gettext("The company's own memo fields, beyond the standard ones, in the order they are shown."),
    ...items,
    addButton(path, gettext('Add a field'), () => ({ key: '', label: '' })));
}

function contacts() {
  const path = ['contacts'];
  const items = list(path).map((contact, index) => {
    const p = [...path, index];
    const stopped = contact.key && optedOut.includes(contact.key);
    return item(path, index, contact.name ? gettext('Contact %(n)d (%(name)s)', { n: index + 1, name: contact.name }) : gettext('Contact %(n)d', { n: index + 1 }),
      textField([...p, 'key'], gettext('Key'), { help: gettext('How rules name the contact: a-z, 0-9, - and _, e.g. director'), onCommit: refreshChoices }),
      textField([...p, 'name'], gettext('Name'), { onCommit: refreshChoices }),
      textField([...p, 'email'], gettext('Email'), { type: 'email', optional: true, autocomplete: 'off', onCommit: drawTestChoices }),
      textField([...p, 'phone'], gettext('Phone'), { type: 'tel', inputmode: 'tel', optional: true, help: gettext('With + and the country code; needed for SMS and voice calls.'), onCommit: drawTestChoices }),
      stopped ? h('p', { className: 'note', text: gettext('This number replied STOP: it gets no SMS until it replies START.') }) : null);
  });
  return section('contacts', gettext('Contacts'),
    gettext('The people who receive memos. Each needs an email, a phone, or both.'),
    ...items,
    addButton(path, gettext('Add a contact'), () => ({ key: '', name: '', email: '' })));
}

function contactChoices() {
  return (Array.isArray(doc.contacts) ? doc.contacts : []).filter((c) => c.key).map((c) => [c.key, c.name ? `${c.name} (${c.key})` : c.key]);
}

const channelChoices = () => CHANNELS.map((c) => [c, CHANNEL[c] ?? c]);

function routing() {
  const path = ['routing'];
  const rules = list(path);
  const items = rules.map((rule, index) => {
    const p = [...path, index];
    const last = index === rules.length - 1;
    const when = h('div', { className: 'when', id: idOf([...p, 'when']), tabindex: '-1' },
      selectField([...p, 'when', 'urgency'], gettext('When the urgency is'), [['', gettext('any')], ...Object.entries(URGENCY)], { optional: true, onChange: () => tidyWhen(rule) }),
      selectField([...p, 'when', 'category'], gettext('When the category is'), [['', gettext('any')], ...Object.entries(CATEGORY)], { optional: true, onChange: () => tidyWhen(rule) }));
    return item(path, index, last ? gettext('Rule %(n)d (the default)', { n: index + 1 }) : gettext('Rule %(n)d', { n: index + 1 }),
      last ? h('p', { className: 'hint', text: gettext('The last rule takes every memo no rule above took: leave both conditions at "any".') }) : null,
      when,
      checkGroup([...p, 'notify'], gettext('Notify'), contactChoices()),
      checkGroup([...p, 'channels'], gettext('On'), channelChoices()));
  });
  return section('routing', gettext('Routing'),
    gettext('Who gets a new memo, and how. The first rule the memo meets wins; the last rule is the default.'),
    ...items,
    addButton(path, gettext('Add a rule'), () => ({ notify: [], channels: ['email'] })));
}

function tidyWhen(rule) {
  if (rule.when && Object.keys(rule.when).length === 0) delete rule.when;
}

function escalation() {
  const path = ['escalation'];
  const items = list(path).map((step, index) => {
    const p = [...path, index];
    const kindId = `${idOf(p)}-kind`;
    const kind = step.action ? 'callback' : 'notify';
    const kindSelect = h('select', { id: kindId },
      h('option', { value: 'notify', text: gettext('Notify contacts') }),
      h('option', { value: 'callback', text: gettext('An operator phones the company') }));
    kindSelect.value = kind;
    kindSelect.addEventListener('change', () => {
      if (kindSelect.value === 'callback') {
        delete step.notify;
        delete step.channels;
        step.action = 'operator_callback';
      } else {
        delete step.action;
        step.notify = [];
        step.channels = ['sms'];
      }
      redraw(kindId);
    });
    return item(path, index, gettext('Escalation step %(n)d', { n: index + 1 }),
      h('div', { className: 'inline-row' },
        textField([...p, 'after'], gettext('After'), { help: gettext('From the memo’s creation: 90s, 15m, 2h'), className: 'grow' }),
        textField([...p, 'urgent_after'], gettext('Urgent memos after'), { optional: true, help: gettext('Optional, at most “after”'), className: 'grow' })),
      h('div', { className: 'field' }, h('label', { for: kindId, text: gettext('Then') }), kindSelect),
      kind === 'notify' ? checkGroup([...p, 'notify'], gettext('Notify'), contactChoices()) : null,
      kind === 'notify' ? checkGroup([...p, 'channels'], gettext('On'), channelChoices()) : null);
  });
  return section('escalation', gettext('Escalation'),
    gettext('What happens while a memo is not acknowledged, in order of time.'),
    ...items,
    addButton(path, gettext('Add a step'), () => ({ after: '15m', notify: [], channels: ['sms'] })));
}

function hours() {
  const has = Boolean(doc.hours);
  const toggle = h('input', { type: 'checkbox', id: 'cf-hours-set' });
  toggle.checked = has;
  toggle.addEventListener('change', () => {
    if (toggle.checked) doc.hours = { timezone: doc.locale === 'en' ? 'America/New_York' : 'Asia/Tokyo', open: '09:00', close: '18:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] };
    else delete doc.hours;
    redraw('cf-hours-set');
  });
  const parts = [h('label', { className: 'check', for: toggle.id }, toggle, ' ', gettext('Has opening hours (otherwise always open)'))];
  if (has) {
    const holidays = h('input', { id: 'cf-hours-holidays', type: 'text', autocomplete: 'off', 'aria-describedby': 'cf-hours-holidays-hint' });
    holidays.value = (doc.hours.holidays ?? []).join(' ');
    holidays.addEventListener('input', () => {
      clearError(holidays);
      const dates = holidays.value.split(/[\s,、，]+/).filter(Boolean);
      if (dates.length) doc.hours.holidays = dates;
      else delete doc.hours.holidays;
      changed();
    });
    const zone = textField(['hours', 'timezone'], gettext('Time zone'), { help: gettext('e.g. Asia/Tokyo') });
    zone.querySelector('input').setAttribute('list', 'timezone-list');
    parts.push(
      zone,
      h('div', { className: 'inline-row' },
        textField(['hours', 'open'], gettext('Opens'), { help: gettext('HH:MM'), className: 'grow' }),
        textField(['hours', 'close'], gettext('Closes'), { help: gettext('HH:MM, or 24:00'), className: 'grow' })),
      checkGroup(['hours', 'days'], gettext('Open on'), Object.entries(DAYS)),
      h('div', { className: 'field' },
        h('label', { for: 'cf-hours-holidays', text: gettext('Holidays') }),
        h('p', { className: 'hint', id: 'cf-hours-holidays-hint', text: gettext('Dates it stays closed, YYYY-MM-DD, separated by spaces') }),
        holidays));
  }
  return section('hours', gettext('Hours'),
    gettext('Outside these hours a normal memo waits for the next opening; an urgent one goes at once.'),
    h('div', { id: 'cf-hours', tabindex: '-1' }, ...parts));
}

function templates() {
  return section('templates', gettext('Message formats'),
    gettext("Leave empty to use Relay's default. Jinja2, e.g. {{ subject }}, {{ caller.name }}, {{ ack_url }}."),
    ...TEMPLATES.map(([key, label, rows]) => textField(['templates', key], label, { rows, optional: true, className: 'code' })));
}

function draw() {
  put(sections, basics(), phoneNumbers(), scriptSteps(), memoFields(), contacts(), routing(), escalation(), hours(), templates());
  drawTestChoices();
}

// The parts that offer contacts or fields as choices, drawn again when those change (on
// leaving the key's input), keeping the focus and the refusals shown elsewhere.
const DEPENDENT = { script: scriptSteps, routing, escalation };
function refreshChoices() {
  const active = document.activeElement?.id;
  for (const [key, build] of Object.entries(DEPENDENT)) document.getElementById(`section-${key}`)?.replaceWith(build());
  drawTestChoices();
  if (active) document.getElementById(active)?.focus();
}

// Draw again after a change of shape, keeping focus where the person was working.
function redraw(focusId) {
  clearAllErrors();
  const scroll = window.scrollY;
  draw();
  window.scrollTo(0, scroll);
  if (focusId) document.getElementById(focusId)?.focus();
  changed();
}

const live = h('p', { className: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
document.body.append(live);
function announce(text) {
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 50);
}

// ---- refusals beside their fields ---------------------------------------------------------

const LIST_OF_VALUES = new Set(['notify', 'channels', 'days']);

// The control a refusal's dotted path (`contacts.1.phone`, `routing.0.notify.0`) is about,
// or the nearest part of the form that holds it.
function anchorFor(field) {
  if (!field) return null;
  const parts = field.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  const last = parts.at(-1);
  if (typeof last === 'number' && LIST_OF_VALUES.has(parts.at(-2))) {
    const value = get(parts);
    const box = document.getElementById(`${idOf(parts.slice(0, -1))}-${value}`);
    if (box) return box;
  }
  for (let n = parts.length; n > 0; n -= 1) {
    const found = document.getElementById(idOf(parts.slice(0, n)));
    if (found) return found;
  }
  return null;
}

function showError(control, message) {
  const errorId = `${control.id}-error`;
  let note = document.getElementById(errorId);
  if (note) {
    note.textContent = `${note.textContent} ${message}`;
    return;
  }
  note = h('p', { className: 'field-error', id: errorId, text: message });
  if (control.tagName === 'FIELDSET' || control.tagName === 'DIV') control.append(note);
  else if (control.type === 'checkbox') control.closest('fieldset')?.append(note);
  else control.after(note);
  control.setAttribute('aria-invalid', 'true');
  const described = (control.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
  control.setAttribute('aria-describedby', [...described, errorId].join(' '));
}

function clearError(control) {
  if (!control?.id) return;
  const errorId = `${control.id}-error`;
  document.getElementById(errorId)?.remove();
  if (control.getAttribute('aria-invalid') === 'true') control.removeAttribute('aria-invalid');
  const described = (control.getAttribute('aria-describedby') ?? '').split(' ').filter((id) => id && id !== errorId);
  if (described.length) control.setAttribute('aria-describedby', described.join(' '));
  else control.removeAttribute('aria-describedby');
}

function clearAllErrors() {
  for (const control of document.querySelectorAll('[aria-invalid="true"]')) clearError(control);
  alertBox.hidden = true;
  put(alertBox);
}

function focusable(element) {
  if (element.matches('input, select, textarea, button')) return element;
  const inside = element.querySelector('input, select, textarea, button');
  if (inside) return inside;
  element.setAttribute('tabindex', '-1');
  return element;
}

function showAlert(...children) {
  put(alertBox, ...children);
  alertBox.hidden = false;
}

// Each refusal beside its field; the first field gets the focus.
function showRefusals(errors, detail) {
  const placed = [];
  const loose = [];
  for (const error of errors) {
    const control = anchorFor(error.field);
    if (control) {
      showError(control, error.message);
      placed.push(control);
    } else {
      loose.push(error.field ? `${error.field}: ${error.message}` : error.message);
    }
  }
  const count = errors.length || 1;
  showAlert(
    h('p', { text: ngettext('Not saved: %(num)d problem, shown beside its field.', 'Not saved: %(num)d problems, each shown beside its field.', count) }),
    loose.length ? h('ul', {}, ...loose.map((text) => h('li', { text }))) : null,
    !errors.length && detail ? h('p', { text: detail }) : null,
  );
  const first = placed.sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1))[0];
  if (first) {
    first.scrollIntoView({ block: 'center' });
    focusable(first).focus();
  } else {
    alertBox.focus();
  }
}

function digits(text) {
  return (text ?? '').normalize('NFKC').replace(/\D/g, '');
}

// A number that belongs to another company: marked where it was typed.
function showTakenNumber(data) {
  const detail = detailText(data, gettext('This number belongs to another company.'));
  const inputs = [...document.querySelectorAll('[id^="cf-phone_numbers-"]')].filter((el) => el.tagName === 'INPUT');
  const named = anchorFor(data?.errors?.[0]?.field ?? data?.field);
  const target = (named?.tagName === 'INPUT' ? named : null)
    ?? inputs.find((input) => digits(input.value) && digits(detail).includes(digits(input.value))) ?? inputs[0];
  showAlert(h('p', { text: detail }));
  if (target) {
    showError(target, detail);
    target.focus();
  } else {
    alertBox.focus();
  }
}

// ---- loading and saving -------------------------------------------------------------------

async function send(method, path, json, headers = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (method !== 'GET') init.headers['X-CSRF-Token'] = CSRF;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { ok: response.ok, status: response.status, data, etag: response.headers.get('ETag') };
}

const companyPath = (slug) => `/api/v1/clients/${encodeURIComponent(slug)}`;

function took(data, tag) {
  doc = stripReadOnly(data);
  optedOut = Array.isArray(data.sms_opted_out) ? data.sms_opted_out : [];
  etag = tag ?? (data.version !== undefined ? `"v${data.version}"` : null);
  form.dataset.version = data.version ?? '';
}

async function load() {
  if (!SLUG) {
    doc = blank();
  } else {
    let answer;
    try {
      answer = await send('GET', companyPath(SLUG));
    } catch {
      answer = { ok: false, data: null };
    }
    if (!answer.ok) {
      showAlert(h('p', { text: detailText(answer.data, gettext('The company could not be loaded. Reload the page to try again.')) }));
      document.getElementById('form-loading').hidden = true;
      return;
    }
    took(answer.data, answer.etag);
  }
  document.getElementById('form-loading').hidden = true;
  draw();
  const saved = sessionStorage.getItem(SAVED_KEY);
  if (saved) {
    sessionStorage.removeItem(SAVED_KEY);
    saveStatus.textContent = gettext('Saved as version %(version)s.', { version: saved });
  }
  schedulePreview();
}

async function save(event) {
  event.preventDefault();
  if (!doc) return;
  clearAllErrors();
  saveStatus.textContent = '';
  const slug = SLUG ?? String(doc.slug ?? '').trim();
  if (!SLUG) {
    const slugInput = document.getElementById('cf-slug');
    if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(slug)) {
      showRefusals([{ field: 'slug', message: gettext('Use lower-case letters a-z, digits and -, e.g. sakura-dental.') }]);
      return;
    }
    doc.slug = slug;
    const existing = await send('GET', companyPath(slug)).catch(() => ({ ok: false, status: 0 }));
    if (existing.ok) {
      showRefusals([{ field: 'slug', message: gettext('%(slug)s is already a company: choose another slug.', { slug }) }]);
      slugInput?.focus();
      return;
    }
  }
  saveButton.disabled = true;
  saveStatus.textContent = gettext('Saving…');
  const before = form.dataset.version;
  let answer;
  try {
    answer = await send('PUT', companyPath(slug), outgoing(), etag && SLUG ? { 'If-Match': etag } : {});
  } catch {
    saveButton.disabled = false;
    saveStatus.textContent = '';
    showAlert(h('p', { text: gettext('Relay could not be reached. Nothing you typed is lost: try again.') }));
    alertBox.focus();
    return;
  }
  saveButton.disabled = false;
  saveStatus.textContent = '';
  if (answer.ok) {
    if (!SLUG) {
      dirty = false;
      sessionStorage.setItem(SAVED_KEY, String(answer.data?.version ?? 1));
      window.location.assign(`/admin/companies/${encodeURIComponent(slug)}`);
      return;
    }
    took(answer.data, answer.etag);
    redraw(null);
    dirty = false;
    saveStatus.textContent = String(answer.data.version) === before
      ? gettext('Nothing changed: still version %(version)s.', { version: answer.data.version })
      : gettext('Saved as version %(version)s.', { version: answer.data.version });
    return;
  }
  if (answer.status === 412) {
    showConflict();
    return;
  }
  if (answer.status === 409 && answer.data?.code === 'phone_number_taken') {
    showTakenNumber(answer.data);
    return;
  }
  if (answer.status === 422 && Array.isArray(answer.data?.errors) && answer.data.errors.length) {
    showRefusals(answer.data.errors, detailText(answer.data, ''));
    return;
  }
  if (answer.status === 401) {
    showAlert(h('p', { text: gettext('You are signed out. Sign in again in another tab, then save: nothing you typed is lost.') }));
    alertBox.focus();
    return;
  }
  showAlert(h('p', { text: detailText(answer.data, gettext('Not saved.')) }));
  alertBox.focus();
}

// Someone saved a newer version while this one was being edited: keep what was typed.
function showConflict() {
  const reload = h('button', { type: 'button', className: 'secondary', text: gettext('Load the newer version (drops your changes)') });
  reload.addEventListener('click', async () => {
    if (!window.confirm(gettext('Drop your changes and load the newer version?'))) return;
    const answer = await send('GET', companyPath(SLUG));
    if (answer.ok) {
      took(answer.data, answer.etag);
      redraw('cf-name');
      dirty = false;
      saveStatus.textContent = gettext('Loaded version %(version)s.', { version: answer.data.version });
    }
  });
  showAlert(
    h('p', { text: gettext('Not saved: someone saved a newer version of this company while you were editing. Your changes are still here.') }),
    h('p', {},
      h('a', { href: `/admin/companies/${encodeURIComponent(SLUG)}/versions`, target: '_blank', rel: 'noopener', text: gettext('See what changed (opens a new tab)') }),
      ' ', reload),
  );
  alertBox.focus();
}

// ---- preview and test send ----------------------------------------------------------------

const previewStatus = document.getElementById('preview-status');
let previewTurn = 0;

async function preview() {
  if (!doc) return;
  // `_new`: the API previews a company not saved yet from the document alone.
  const slug = SLUG ?? '_new';
  const turn = ++previewTurn;
  previewStatus.textContent = gettext('Updating…');
  let answer;
  try {
    answer = await send('POST', `${companyPath(slug)}/preview`, { config: outgoing() });
  } catch {
    if (turn === previewTurn) previewStatus.textContent = gettext('Preview unavailable: Relay could not be reached.');
    return;
  }
  if (turn !== previewTurn) return; // a later edit asked again
  if (!answer.ok) {
    const first = answer.data?.errors?.[0];
    previewStatus.textContent = first
      ? gettext('The preview waits for a valid company: %(problem)s', { problem: `${first.field}: ${first.message}` })
      : detailText(answer.data, gettext('No preview.'));
    return;
  }
  previewStatus.textContent = '';
  const { email = {}, sms = {}, voice = {} } = answer.data ?? {};
  // What the company receives is in the company's language, whatever the page's: said so
  // for screen readers (and their pronunciation).
  const language = outgoing().locale === 'en' ? 'en' : 'ja';
  for (const id of ['preview-subject', 'preview-email-text', 'preview-email-html', 'preview-sms-text', 'preview-voice-text']) {
    document.getElementById(id).lang = language;
  }
  document.getElementById('preview-subject').textContent = email.subject ?? '';
  document.getElementById('preview-email-text').textContent = email.text ?? '';
  // A frame with no permissions at all: the HTML is shown, nothing in it runs or navigates.
  document.getElementById('preview-email-html').srcdoc = email.html ?? '';
  document.getElementById('preview-sms-text').textContent = sms.text ?? '';
  document.getElementById('preview-sms-cost').textContent = sms.encoding
    ? `${sms.encoding} · ${ngettext('%(num)d segment', '%(num)d segments', sms.segments ?? 0)}`
    : '';
  document.getElementById('preview-voice-text').textContent = voice.text ?? '';
  drawChatPreview(answer.data?.chat ?? [], language);
}

// Each chat destination's card, as its message would carry it; the words come translated.
function drawChatPreview(cards, language) {
  const section = document.getElementById('preview-chat');
  section.hidden = cards.length === 0;
  put(document.getElementById('preview-chat-cards'), cards.map((card) => h('article', { className: 'chat-preview', 'data-kind': card.kind, lang: language },
    h('p', {}, h('strong', { text: card.name }), ` · ${card.kind}`),
    h('pre', { className: 'message-text', tabindex: '0', text: card.text }),
    // Chatwork has no button: its readers reply with the code.
    card.kind === 'chatwork' ? null : h('p', {}, h('span', { className: 'button', text: card.ack_label })),
  )));
}

const schedulePreview = debounce(preview, 400);

const testContact = document.getElementById('test-contact');
const testChannel = document.getElementById('test-channel');
const testResult = document.getElementById('test-result');

const PLATFORM = {
  slack: gettext('Slack'), chatwork: gettext('Chatwork'), lineworks: gettext('LINE WORKS'),
  line: gettext('LINE'), teams: gettext('Microsoft Teams'), webhook: gettext('Webhook'),
};
const testDestination = () => (doc.destinations ?? []).find((d) => d.key && d.key === testContact.value);

function drawTestChoices() {
  if (!testContact) return;
  const chosen = testContact.value;
  const contacts = (doc.contacts ?? []).filter((c) => c.key).map((c) => h('option', { value: c.key, text: c.name ? `${c.name} (${c.key})` : c.key }));
  const destinations = (doc.destinations ?? []).filter((d) => d.key).map((d) => h('option', {
    value: d.key, text: gettext('%(name)s on %(platform)s', { name: d.name || d.key, platform: PLATFORM[d.kind] ?? d.kind ?? '' }),
  }));
  if (destinations.length) {
    put(testContact, h('optgroup', { label: gettext('Contacts') }, ...contacts),
      h('optgroup', { label: gettext('Chat destinations') }, ...destinations));
  } else {
    put(testContact, ...contacts);
  }
  if (chosen && [...testContact.options].some((o) => o.value === chosen)) testContact.value = chosen;
  drawTestChannels();
}

function drawTestChannels() {
  const chosen = testChannel.value;
  // A destination is reached on its own platform only.
  const destination = testDestination();
  if (destination) {
    put(testChannel, h('option', { value: destination.kind ?? '', text: PLATFORM[destination.kind] ?? destination.kind ?? '' }));
    return;
  }
  const contact = (doc.contacts ?? []).find((c) => c.key === testContact.value);
  const channels = [];
  if (contact?.email) channels.push('email');
  if (contact?.phone) channels.push('sms', 'voice');
  put(testChannel, h('option', { value: '', text: gettext('Its usual channels') }),
    ...channels.map((c) => h('option', { value: c, text: CHANNEL[c] ?? c })));
  if ([...testChannel.options].some((o) => o.value === chosen)) testChannel.value = chosen;
}

// The test delivery's trail as GET /api/v1/memos/{id}/trail tells it: each attempt's outcome.
function trail(deliveries) {
  if (!deliveries.length) return h('p', { className: 'muted', id: 'test-trail', text: gettext('No delivery yet.') });
  return h('ul', { className: 'trail', id: 'test-trail' }, ...deliveries.map((d) => h('li', { 'data-status': d.status },
    h('strong', { text: CHANNEL[d.channel] ?? d.channel }), ' → ', d.contact_name || d.contact || '', ' ', d.to_display || d.to || '', ' · ',
    h('span', { className: 'delivery-status', text: DELIVERY_STATUS[d.status] ?? d.status }),
    d.attempts ? ` · ${ngettext('%(num)d attempt', '%(num)d attempts', d.attempts)}` : '',
    d.attempted_at ? ` · ${fmtTime(d.attempted_at)}` : '',
    d.provider_id ? h('span', { className: 'muted', text: ` · ${d.provider_id}` }) : null,
    d.error ? h('span', { className: 'delivery-error', text: ` · ${d.error_code ? `${d.error_code} ` : ''}${d.error}` }) : null)));
}

const SETTLED = new Set(['sent', 'delivered', 'failed']);

async function followTest(trailUrl, until) {
  const answer = await send('GET', trailUrl).catch(() => null);
  if (!answer?.ok) return;
  const deliveries = answer.data?.deliveries ?? [];
  document.getElementById('test-trail')?.replaceWith(trail(deliveries));
  const settled = deliveries.length && deliveries.every((d) => SETTLED.has(d.status));
  if (!settled && Date.now() < until) setTimeout(() => followTest(trailUrl, until), 1000);
}

async function sendTest() {
  const body = { contact: testContact.value };
  if (testChannel.value) body.channel = testChannel.value;
  const destination = testDestination();
  put(testResult, h('p', { className: 'muted', text: gettext('Sending…') }));
  let answer;
  try {
    answer = await send('POST', `${companyPath(SLUG)}/test`, body);
  } catch {
    put(testResult, h('p', { className: 'field-error', text: gettext('Relay could not be reached.') }));
    return;
  }
  if (!answer.ok) {
    put(testResult, h('p', { className: 'field-error', text: detailText(answer.data, gettext('The test was not sent.')) }));
    return;
  }
  const data = answer.data ?? {};
  const outbox = document.getElementById('outbox-link');
  put(testResult,
    h('p', { text: gettext('Test sent to %(to)s.', { to: destination ? destination.name || destination.key : data.to ?? '' }) }),
    trail(data.memo?.deliveries ?? []),
    outbox ? h('p', {}, h('a', { href: outbox.getAttribute('href'), target: '_blank', rel: 'noopener', text: gettext('Open the dev outbox') })) : null);
  if (data.trail_url) followTest(data.trail_url, Date.now() + 60_000);
}

testContact?.addEventListener('change', drawTestChannels);
document.getElementById('test-send')?.addEventListener('click', sendTest);
form.addEventListener('submit', save);
load();
