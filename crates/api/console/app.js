// The console's entry: sign-in, hash routing (#/, #/t/<name>, #/t/<name>/attackers/<id>),
// toasts, two-click confirmations and downloads. No inline script anywhere: the page's
// Content-Security-Policy allows scripts from this origin only.

import * as api from './api.js';
import { h, replace } from './dom.js';
import { openList } from './list.js';
import { openEditor } from './editor.js';
import { openAttacker } from './attackers.js';

const root = document.getElementById('app');
const toasts = document.getElementById('toasts');
let closeView = null;

const ctx = {
  navigate(hash, reload = false) {
    if (location.hash === hash && reload) route();
    else location.hash = hash;
  },
  /** A message in the corner: errors stay until clicked away (the last five), others go. */
  toast(text, kind = 'info') {
    const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', title: kind === 'error' ? 'click to dismiss' : null, onclick: () => el.remove() }, text);
    toasts.append(el);
    if (kind !== 'error') setTimeout(() => el.remove(), 3000);
    const errors = toasts.querySelectorAll('.toast.error');
    for (let i = 0; i < errors.length - 5; i++) errors[i].remove();
  },
  /** A button that acts on its second click within 4 s (no browser dialog). */
  confirmButton(label, action, attrs = {}) {
    let armed = null;
    const button = h('button', { ...attrs, onclick: async () => {
      if (!armed) {
        button.textContent = `Confirm ${label.toLowerCase()}?`;
        button.classList.add('armed');
        armed = setTimeout(() => {
          armed = null;
          button.textContent = label;
          button.classList.remove('armed');
        }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      button.disabled = true;
      button.textContent = `${label}…`;
      await action();
    } }, label);
    return button;
  },
  download(filename, text) {
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    const a = h('a', { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  },
  async signOut() {
    try {
      await api.post('/api/v1/auth/logout');
    } catch {
      // The token is dropped either way.
    }
    api.setToken(null);
    route();
  },
};

function signIn() {
  const error = h('p', { class: 'error', id: 'login-error', role: 'alert' });
  const form = h('form', { id: 'login', class: 'card-form login', onsubmit: async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      const token = await api.post('/api/v1/auth/login', { username: data.get('username'), password: data.get('password') });
      api.setToken(token.access_token);
      route();
    } catch (err) {
      error.textContent = err.status === 401 ? 'Wrong user name or password' : err.message;
    }
  } },
  h('h1', {}, 'DECNET'),
  h('label', {}, 'User ', h('input', { name: 'username', autocomplete: 'username', required: true, value: 'admin' })),
  h('label', {}, 'Password ', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
  h('button', { type: 'submit' }, 'Sign in'),
  error);
  replace(root, form);
  form.querySelector('input[name=password]').focus();
}

async function route() {
  closeView?.();
  closeView = null;
  if (!api.token()) return signIn();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  replace(root, h('p', { class: 'loading' }, 'Loading…'));
  try {
    if (parts[0] === 't' && parts[1] && parts[2] === 'attackers' && parts[3]) await openAttacker(root, parts[1], parts[3], ctx);
    else if (parts[0] === 't' && parts[1]) closeView = await openEditor(root, parts[1], ctx);
    else await openList(root, ctx);
  } catch (err) {
    if (!api.token()) return signIn();
    replace(root, h('section', { class: 'page' }, h('p', { class: 'error' }, err.message), h('a', { href: '#/' }, 'Back to the topologies')));
  }
}

api.whenUnauthorized(() => signIn());
window.addEventListener('hashchange', route);
route();
