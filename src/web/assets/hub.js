// Tributary's web pages, the shared part: words in the page's language, GraphQL over HTTP, the
// token kept in this tab (sessionStorage), and a graphql-transport-ws client that resumes from its
// last cursor after a dropped connection. No framework: the pages must stay small.
'use strict';

const Hub = (() => {
  const words = JSON.parse(document.getElementById('i18n').textContent);
  const lang = document.documentElement.lang || 'en';

  /** The page language's words for `key`, with `{name}` placeholders filled from `vars`. */
  function t(key, vars) {
    const text = Object.prototype.hasOwnProperty.call(words, key) ? words[key] : key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : text;
  }

  const TOKEN_KEY = 'tributary.token';
  const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
  function setToken(secret) {
    if (secret) sessionStorage.setItem(TOKEN_KEY, secret);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  /** A GraphQL error response: the first error's code (`extensions.code`) and every message. */
  class GraphQLError extends Error {
    constructor(errors) {
      super(errors.map((e) => e.message).join(' · '));
      this.errors = errors;
      this.code = errors[0] && errors[0].extensions ? errors[0].extensions.code : undefined;
    }
  }

  /** Runs a query or mutation; resolves to `data`, rejects with a readable Error. */
  async function gql(query, variables) {
    const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    const secret = token();
    if (secret) headers.authorization = 'Bearer ' + secret;
    let response;
    try {
      response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    } catch (e) {
      throw new Error(t('error.network'));
    }
    let body;
    try {
      body = await response.json();
    } catch (e) {
      throw new Error(t('error.generic', { message: response.status + ' ' + response.statusText }));
    }
    if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
    return body.data;
  }

  /** An element: `attrs` are attributes (`text` sets its text), children are nodes or strings. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') node.textContent = value;
      else if (name === 'class') node.className = value;
      else node.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const dates = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });
  const date = (iso) => (iso ? dates.format(new Date(iso)) : '');
  const numbers = new Intl.NumberFormat(lang);
  const number = (n) => numbers.format(n);
  const regionNames = new Intl.DisplayNames([lang], { type: 'region' });
  const languageNames = new Intl.DisplayNames([lang], { type: 'language' });
  function countryName(code) {
    try { return regionNames.of(code) || code; } catch (e) { return code; }
  }
  const lists = new Intl.ListFormat(lang, { style: 'long', type: 'conjunction' });
  /** A list in the page's language ("Italy and France", "Italie et France"). */
  const list = (items) => lists.format(items);
  function languageName(tag) {
    try { return languageNames.of(tag) || tag; } catch (e) { return tag; }
  }

  const CATEGORIES = ['ROUTE_CHANGE', 'REGULATORY_CHANGE', 'RETURN', 'FUNDING', 'CIVIL_SOCIETY', 'STUDY',
    'PROGRAMME', 'NEEDS', 'MEETING', 'OTHER'];
  const LANGUAGES = ['en', 'fr', 'es', 'ar', 'ru'];

  /** The viewer the token stands for (anonymous without one). */
  async function viewer() {
    const data = await gql('{ viewer { role tokenName networks organisation { id code name } } }');
    return data.viewer;
  }

  /**
   * Wires the header's token form. `changed(viewer)` runs with the viewer at start and whenever
   * the token is set or forgotten; `changing()`, when given, runs at once when it is, before the
   * hub is asked (so nothing the old token may see stays on screen meanwhile). A token the hub
   * refuses is said so and forgotten.
   */
  function setupToken(changed, changing) {
    const form = document.getElementById('token-form');
    const input = document.getElementById('token-input');
    const status = document.getElementById('token-status');
    const error = document.getElementById('token-error');
    const panel = document.getElementById('token-panel');
    async function refresh() {
      error.hidden = true;
      let who;
      try {
        who = await viewer();
      } catch (e) {
        // Only a refused token is forgotten: a network error or a busy hub says nothing about it.
        if (!token() || e.code !== 'UNAUTHENTICATED') throw e;
        setToken('');
        error.textContent = t('token.invalid', { message: e.message });
        error.hidden = false;
        panel.open = true;
        who = await viewer();
      }
      const role = t('role.' + who.role);
      status.textContent = who.role === 'ANONYMOUS'
        ? t('token.anonymous')
        : who.organisation
          ? t('token.as', { name: who.tokenName || '', role, org: who.organisation.name })
          : t('token.as_noorg', { name: who.tokenName || '', role });
      changed(who);
    }
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (changing) changing();
      setToken(input.value.trim());
      input.value = '';
      refresh().catch(showFailure);
    });
    document.getElementById('token-forget').addEventListener('click', () => {
      if (changing) changing();
      setToken('');
      refresh().catch(showFailure);
    });
    function showFailure(e) {
      error.textContent = e.message;
      error.hidden = false;
    }
    refresh().catch(showFailure);
  }

  /**
   * A subscription over graphql-transport-ws that never misses a change: it remembers the cursor
   * of the last change it delivered and, when the connection drops, reconnects (1 s, 2 s, 4 s …
   * up to 30 s apart) and subscribes again after that cursor. `variables()` gives the variables
   * without `after`; `onChange(change)` receives each change once, in order; `onStatus(state,
   * message)` hears `connecting`, `live`, `reconnecting`, `expired` and `stopped`.
   */
  /** Close codes with which the hub refuses a connection's token. */
  const REFUSED = [4400, 4401, 4403];
  /** Error codes a retry would only repeat. */
  const FINAL = ['BAD_USER_INPUT', 'FORBIDDEN', 'UNAUTHENTICATED', 'GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED'];

  class Live {
    constructor({ query, variables, after, onChange, onStatus }) {
      Object.assign(this, { query, variables, cursor: after || null, onChange, onStatus });
      this.socket = null;
      this.stopped = false;
      this.delay = 1000;
      this.timer = null;
    }

    start() {
      this.stopped = false;
      this.connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.socket) this.socket.close(1000, 'done');
      this.socket = null;
    }

    connect() {
      this.onStatus('connecting');
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const socket = new WebSocket(scheme + '//' + location.host + '/graphql/ws', 'graphql-transport-ws');
      this.socket = socket;
      socket.addEventListener('open', () => {
        const secret = token();
        socket.send(JSON.stringify({ type: 'connection_init', payload: secret ? { Authorization: 'Bearer ' + secret } : {} }));
      });
      socket.addEventListener('message', (event) => this.receive(socket, JSON.parse(event.data)));
      socket.addEventListener('close', (event) => {
        if (this.socket !== socket || this.stopped) return;
        this.socket = null;
        if (REFUSED.includes(event.code)) {
          // The hub refused the token (revoked while we were away): retrying cannot help.
          this.stopped = true;
          this.onStatus('refused');
          return;
        }
        this.onStatus('reconnecting');
        this.timer = setTimeout(() => this.connect(), this.delay);
        this.delay = Math.min(this.delay * 2, 30000);
      });
    }

    receive(socket, message) {
      switch (message.type) {
        case 'connection_ack': {
          this.delay = 1000;
          const variables = Object.assign({}, this.variables(), { after: this.cursor });
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: this.query, variables } }));
          this.onStatus('live');
          break;
        }
        case 'ping':
          socket.send(JSON.stringify({ type: 'pong' }));
          break;
        case 'next': {
          const payload = message.payload || {};
          if (payload.errors && payload.errors.length) {
            this.failed(socket, payload.errors);
          } else if (payload.data && payload.data.changes) {
            this.cursor = payload.data.changes.cursor;
            this.onChange(payload.data.changes);
          }
          break;
        }
        case 'error':
          this.failed(socket, message.payload || []);
          break;
        case 'complete':
          // The server ended the subscription (it is shutting down): resume on a new connection.
          socket.close();
          break;
        default:
          break;
      }
    }

    failed(socket, errors) {
      const error = errors[0] || {};
      const code = error.extensions && error.extensions.code;
      if (code === 'CURSOR_EXPIRED' && error.extensions.oldestCursor) {
        // The log was pruned past our cursor: go on from the oldest change it still holds, and say so.
        this.cursor = error.extensions.oldestCursor;
        this.onStatus('expired');
      } else if (FINAL.includes(code)) {
        // What we asked for is wrong or not allowed: asking again would get the same answer.
        this.stopped = true;
        this.onStatus('stopped', errors.map((e) => e.message).join(' · '));
      }
      // Anything else (the hub shutting down, a database hiccup) ends this connection only: the
      // close handler reconnects and resumes after the last cursor.
      socket.close();
    }
  }

  return { t, gql, el, date, number, list, countryName, languageName, token, setToken, viewer, setupToken, Live,
    GraphQLError, CATEGORIES, LANGUAGES, lang };
})();
