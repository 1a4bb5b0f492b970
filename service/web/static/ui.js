// Small helpers shared by the callbacks list and the supervisor board.
// Everything taken from the server or the user is inserted with textContent, never as HTML.

export const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? '';

export const CATEGORY = { complaint: '苦情', inquiry: '問い合わせ', callback: '折り返し依頼', order: '注文', other: 'その他' };
export const URGENCY = { normal: '通常', urgent: '至急' };
export const MEMO_STATUS = {
  relaying: '中継中', sent: '送信済', delivered: '配信済', acknowledged: '確認済', failed: '失敗',
};
export const CHANNEL = { email: 'メール', sms: 'SMS', voice: '音声' };
export const DELIVERY_STATUS = {
  pending: '待機', sending: '送信中', sent: '送信済', delivered: '配信済', retrying: '再試行待ち', failed: '失敗',
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

export function bi(ja, en) {
  return [ja, ' ', h('span', { className: 'en', text: en })];
}

const dayTime = new Intl.DateTimeFormat('ja-JP', { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const clockTime = new Intl.DateTimeFormat('ja-JP', { hour: '2-digit', minute: '2-digit' });

// "14:05" for today, "6/3 14:05" for any other day.
export function fmtTime(iso) {
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return date.toDateString() === new Date().toDateString() ? clockTime.format(date) : dayTime.format(date);
}

// A span of time as people say it: 「1時間5分」, 「35分」, 「2日3時間」, 「1分未満」.
export function fmtDuration(seconds) {
  const minutes = Math.floor(Math.max(0, seconds) / 60);
  if (minutes < 1) return ['1分未満', 'under 1 min'];
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return [`${days}日${hours ? `${hours}時間` : ''}`, `${days} d ${hours} h`];
  if (hours > 0) return [`${hours}時間${rest ? `${rest}分` : ''}`, `${hours} h ${rest} min`];
  return [`${rest}分`, `${rest} min`];
}

// A Japanese number as people write it (090-1111-2222); others stay in E.164.
export function formatPhone(e164) {
  if (!e164 || !e164.startsWith('+81')) return e164 || '';
  const n = `0${e164.slice(3)}`;
  const group = (...sizes) => {
    const parts = [];
    let at = 0;
    for (const size of sizes) { parts.push(n.slice(at, at + size)); at += size; }
    return parts.join('-');
  };
  if (n.length === 11 && /^0[2-9]0/.test(n)) return group(3, 4, 4);
  if (n.length === 10 && /^0(120|570)/.test(n)) return group(4, 3, 3);
  if (n.length === 11 && n.startsWith('0800')) return group(4, 3, 4);
  if (n.length === 10 && /^0[36]/.test(n)) return group(2, 4, 4);
  if (n.length === 10) return group(3, 3, 4);
  return n;
}

export function telLink(e164, props = {}) {
  if (!e164) return null;
  return h('a', { href: `tel:${e164}`, className: 'tel', ...props, text: formatPhone(e164) });
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

export function detailText(data, fallback) {
  const detail = data?.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return detail.map((item) => item.msg).join(' / ');
  return fallback;
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
      connecting: ['接続中…', 'connecting'],
      live: ['ライブ', 'live'],
      reconnecting: ['再接続中…', 'reconnecting'],
    }[state];
    indicator.dataset.state = state;
    indicator.querySelector('.live-text').replaceChildren(...bi(...text));
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
