// Small helpers shared by the callbacks list and the supervisor board.
// Everything taken from the server or the user is inserted with textContent, never as HTML.

export const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? '';

// The page's catalogue (base.html puts it in a JSON block): message id → translation, a list
// of forms for a plural. Message ids are the English words, so a missing one reads in English.
const CATALOGUE = (() => {
  try { return JSON.parse(document.getElementById('relay-i18n')?.textContent ?? '{}'); } catch { return {}; }
})();
export const LOCALE = CATALOGUE.locale ?? document.documentElement.lang ?? 'ja';
const MESSAGES = CATALOGUE.messages ?? {};
const PLURAL = new Intl.PluralRules(LOCALE);

function fill(text, values) {
  return values ? text.replace(/%\((\w+)\)[sd]/g, (_, name) => String(values[name] ?? '')) : text;
}

// `message` in the page's language, with %(name)s filled from `values`.
export function gettext(message, values) {
  const found = MESSAGES[message];
  return fill(typeof found === 'string' && found ? found : message, values);
}

// The form of `singular`/`plural` that `n` takes; %(num)d is `n`.
export function ngettext(singular, plural, n, values) {
  const forms = MESSAGES[singular];
  let text = n === 1 ? singular : plural;
  if (Array.isArray(forms) && forms.length) {
    text = forms.length === 1 ? forms[0] : forms[PLURAL.select(n) === 'one' ? 0 : 1];
  }
  return fill(text, { num: n, ...values });
}

export const CATEGORY = {
  complaint: gettext('Complaint'), inquiry: gettext('Inquiry'), callback: gettext('Callback request'),
  order: gettext('Order'), other: gettext('Other'),
};
export const URGENCY = { normal: gettext('Normal'), urgent: gettext('Urgent') };
export const MEMO_STATUS = {
  relaying: gettext('Relaying'), sent: gettext('Sent'), delivered: gettext('Delivered'),
  acknowledged: gettext('Confirmed'), failed: gettext('Failed'),
};
export const CHANNEL = { email: gettext('Email'), sms: gettext('SMS'), voice: gettext('Voice call') };
export const DELIVERY_STATUS = {
  pending: gettext('Waiting'), sending: gettext('Sending'), sent: gettext('Sent'),
  delivered: gettext('Delivered'), retrying: gettext('Waiting to retry'), failed: gettext('Failed'),
};

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'className') el.className = value;
    else if (key === 'text') el.textContent = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Like el.replaceChildren(), but skips null/false children as h() does.
export function put(el, ...children) {
  el.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
}

const dayTime = new Intl.DateTimeFormat(LOCALE, { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const clockTime = new Intl.DateTimeFormat(LOCALE, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

// "14:05" for today, "6/3 14:05" for any other day.
export function fmtTime(iso) {
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return date.toDateString() === new Date().toDateString() ? clockTime.format(date) : dayTime.format(date);
}

// A span of time as people say it: "1 h 5 min" / 「1時間5分」, "under 1 min" / 「1分未満」.
export function fmtDuration(seconds) {
  const minutes = Math.floor(Math.max(0, seconds) / 60);
  if (minutes < 1) return gettext('under 1 min');
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return gettext('%(days)d d %(hours)d h', { days, hours });
  if (hours > 0) return gettext('%(hours)d h %(minutes)d min', { hours, minutes: rest });
  return gettext('%(minutes)d min', { minutes: rest });
}

// A number to dial: E.164 in the link, shown as the server wrote it for the reader.
export function telLink(e164, shown, props = {}) {
  if (!e164) return null;
  return h('a', { href: `tel:${e164}`, className: 'tel', ...props, text: shown || e164 });
}

export async function api(method, path, { json } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') init.headers['X-CSRF-Token'] = CSRF;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const response = await fetch(path, init); // a network failure throws: callers keep their state
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { ok: response.ok, status: response.status, data };
}

// What a refusal says (`detail`, in the page's language), or `fallback` when it says nothing.
export function detailText(data, fallback) {
  const detail = data?.detail;
  return typeof detail === 'string' && detail ? detail : fallback;
}

export function eventData(message) {
  try { return JSON.parse(message.data)?.data ?? {}; } catch { return {}; }
}

// Calls `fn` once, `wait` ms after the last of a burst of calls.
export function debounce(fn, wait) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, wait);
  };
}

// The page's one event stream, with its live / reconnecting indicator. `handlers` is a list
// of [event type, function] pairs; `onOpen` runs on every (re)connection, to fetch again
// whatever changed while the stream was down.
export function liveStream({ indicator, handlers, onOpen }) {
  let source = null;
  let reconnectTimer = null;
  const show = (state) => {
    const text = {
      connecting: gettext('connecting…'),
      live: gettext('live'),
      reconnecting: gettext('reconnecting…'),
    }[state];
    indicator.dataset.state = state;
    indicator.querySelector('.live-text').replaceChildren(text);
  };
  const connect = () => {
    clearTimeout(reconnectTimer);
    if (source) source.close();
    source = new EventSource('/api/v1/events');
    source.addEventListener('open', () => {
      show('live');
      onOpen?.();
    });
    source.addEventListener('error', () => {
      show('reconnecting');
      // The browser gives up after a refused stream (e.g. 401); keep trying on our own.
      if (source.readyState === EventSource.CLOSED) reconnectTimer = setTimeout(connect, 3000);
    });
    for (const [type, handler] of handlers) source.addEventListener(type, handler);
  };
  connect();
}
