// Feed registration: check an address (validateFeed: what the hub would find, nothing stored),
// pick visibility and default category, register; then the society's feeds with their state, to
// pause, resume, move or delete.
'use strict';

(() => {
  const { t, gql, el, date, countryName, languageName } = Hub;

  const CHECK = `mutation Check($input: ValidateFeedInput!) { validateFeed(input: $input) {
    kind title itemCount warnings alternates { url title mediaType } userErrors { field message code }
    items { title summary url language direction publishedAt categories countries } } }`;
  const REGISTER = `mutation Register($input: RegisterFeedInput!) { registerFeed(input: $input) {
    feed { id } userErrors { field message code } } }`;
  const FEED = 'id url title kind state lastError errorCount nextRetryAt visibility';
  const FEEDS = `query Feeds($filter: FeedFilter) { feeds(first: 100, filter: $filter) { nodes { ${FEED} } } }`;
  const ACTIONS = {
    pause: `mutation($id: ID!) { pauseFeed(id: $id) { feed { id } userErrors { message } } }`,
    resume: `mutation($id: ID!) { resumeFeed(id: $id) { feed { id } userErrors { message } } }`,
    delete: `mutation($id: ID!) { deleteFeed(id: $id) { feed { id } userErrors { message } } }`,
    move: `mutation($input: UpdateFeedInput!) { updateFeed(input: $input) { feed { id } userErrors { message } } }`,
  };

  const checkForm = document.getElementById('check-form');
  const urlInput = document.getElementById('url');
  const checkButton = document.getElementById('check');
  const checkError = document.getElementById('check-error');
  const found = document.getElementById('found');
  const registerForm = document.getElementById('register-form');
  const registerButton = document.getElementById('register');
  const result = document.getElementById('register-result');
  const visibility = document.getElementById('visibility');
  const defaultCategory = document.getElementById('default-category');
  const feedsList = document.getElementById('feeds');
  const feedsMessage = document.getElementById('feeds-message');

  for (const v of ['PUBLIC', 'NETWORK', 'SOCIETY']) visibility.append(el('option', { value: v, text: t('visibility.' + v) }));
  for (const c of Hub.CATEGORIES) defaultCategory.append(el('option', { value: c, text: t('category.' + c) }));

  let who = null;
  let checked = null;
  // Answers to an older check, or to a list asked for with another token, are dropped.
  let checks = 0;
  let listings = 0;

  const canRegister = () => who && (who.role === 'MEMBER' || who.role === 'ADMIN');

  function busy(button, wordsKey, on) {
    button.disabled = on;
    if (on) {
      button.dataset.label = button.textContent;
      button.textContent = t(wordsKey);
    } else if (button.dataset.label) {
      button.textContent = button.dataset.label;
    }
  }

  function problem(box, message) {
    box.textContent = message;
    box.hidden = false;
  }

  function messages(userErrors) {
    return userErrors.map((e) => e.message).join(' · ');
  }

  /** The address with what the mapping panel says (kind, preset, mapping), as both mutations take it. */
  function source(url) {
    const input = { url };
    const kind = document.getElementById('kind').value;
    const preset = document.getElementById('preset').value;
    const mapping = document.getElementById('mapping').value.trim();
    if (kind) input.kind = kind;
    if (preset) input.preset = preset;
    else if (mapping) input.mapping = mapping;
    return input;
  }

  async function check(url) {
    const mine = ++checks;
    checkError.hidden = true;
    result.textContent = '';
    busy(checkButton, 'reg.checking', true);
    try {
      const input = source(url);
      const v = (await gql(CHECK, { input })).validateFeed;
      if (mine !== checks) return;
      if (v.userErrors.length) {
        found.hidden = true;
        problem(checkError, messages(v.userErrors));
        return;
      }
      // Registered as checked: the detected kind unless one was chosen.
      checked = Object.assign({ kind: v.kind || undefined }, input);
      show(v);
    } catch (e) {
      if (mine !== checks) return;
      found.hidden = true;
      problem(checkError, e.code === 'UNAUTHENTICATED' || e.code === 'FORBIDDEN' ? t('reg.token_needed') : e.message);
    } finally {
      if (mine === checks) busy(checkButton, 'reg.checking', false);
    }
  }

  /** What was checked no longer stands once the address or the mapping changes. */
  function unchecked() {
    checks += 1;
    checked = null;
    found.hidden = true;
    busy(checkButton, 'reg.checking', false);
  }
  for (const id of ['url', 'kind', 'preset', 'mapping']) document.getElementById(id).addEventListener('input', unchecked);

  function show(v) {
    document.getElementById('found-kind').textContent = v.kind ? t('feedkind.' + v.kind) : t('reg.kind_none');
    document.getElementById('found-title').textContent = v.title || '—';
    document.getElementById('found-count').textContent = v.kind ? t('reg.item_count', { count: Hub.number(v.itemCount) }) : '';
    const warnings = document.getElementById('found-warnings');
    warnings.replaceChildren(...(v.warnings.length ? v.warnings.map((w) => el('li', { text: w })) : [el('li', { text: t('reg.no_warnings') })]));
    const alternates = document.getElementById('alternates');
    alternates.replaceChildren(...v.alternates.map((a) => el('li', {},
      el('span', { class: 'url', text: (a.title ? a.title + ' — ' : '') + a.url }), ' ',
      button('quiet', t('reg.use_alternate'), () => {
        urlInput.value = a.url;
        check(a.url);
      }))));
    document.getElementById('found-alternates').hidden = v.alternates.length === 0;
    const preview = document.getElementById('preview');
    preview.replaceChildren(...(v.items.length ? v.items.map(previewItem) : [el('li', { text: t('reg.items_none') })]));
    document.getElementById('found-preview').hidden = !v.kind;
    registerForm.hidden = !v.kind;
    found.hidden = false;
    document.getElementById('found-heading').focus();
  }

  function previewItem(item) {
    const own = { lang: item.language || undefined, dir: item.direction || 'auto' };
    const summary = item.summary.length > 320 ? item.summary.slice(0, 317) + '…' : item.summary;
    return el('li', {},
      el('p', Object.assign({ class: 'item-title' }, own), item.title),
      summary ? el('p', Object.assign({ class: 'item-summary' }, own), summary) : null,
      el('dl', { class: 'facts' },
        el('dt', { text: t('reg.item_language') }), el('dd', { text: item.language ? languageName(item.language) : '—' }),
        el('dt', { text: t('reg.item_countries') }),
        el('dd', { text: item.countries.length ? Hub.list(item.countries.map(countryName)) : t('reg.no_countries') }),
        el('dt', { text: t('reg.item_categories') }),
        el('dd', {}, el('ul', { class: 'badges' }, item.categories.map((c) => el('li', { class: 'badge ' + c, text: t('category.' + c) }))))),
      item.publishedAt ? el('p', { class: 'meta', text: t('dash.published', { date: date(item.publishedAt) }) }) : null);
  }

  function button(cls, text, onClick) {
    const b = el('button', { type: 'button', class: cls, text });
    b.addEventListener('click', onClick);
    return b;
  }

  checkForm.addEventListener('submit', (event) => {
    event.preventDefault();
    check(urlInput.value.trim());
  });

  registerForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!checked) return;
    const input = Object.assign({}, checked, { visibility: visibility.value });
    if (!input.kind) delete input.kind;
    if (defaultCategory.value) input.defaultCategory = defaultCategory.value;
    busy(registerButton, 'reg.registering', true);
    try {
      const r = (await gql(REGISTER, { input })).registerFeed;
      result.textContent = r.userErrors.length ? messages(r.userErrors) : t('reg.registered');
      result.className = r.userErrors.length ? 'error' : '';
      if (!r.userErrors.length) feeds();
    } catch (e) {
      result.textContent = e.message;
      result.className = 'error';
    } finally {
      busy(registerButton, 'reg.registering', false);
    }
  });

  async function feeds() {
    const mine = ++listings;
    document.getElementById('feeds-signin').hidden = canRegister();
    if (!canRegister()) {
      feedsList.replaceChildren();
      return;
    }
    const filter = who.organisation ? { organisations: [who.organisation.id] } : {};
    try {
      const nodes = (await gql(FEEDS, { filter })).feeds.nodes;
      if (mine !== listings) return;
      feedsList.replaceChildren(...(nodes.length ? nodes.map(feedItem) : [el('li', { text: t('reg.no_feeds') })]));
    } catch (e) {
      if (mine === listings) feedsMessage.textContent = e.message;
    }
  }

  function feedItem(feed) {
    const item = el('li', { 'data-feed': feed.id });
    const act = (name, variables, done) => async () => {
      if (name === 'delete' && !window.confirm(t('reg.confirm_delete'))) return;
      feedsMessage.textContent = '';
      try {
        const payload = Object.values(await gql(ACTIONS[name], variables))[0];
        feedsMessage.textContent = payload.userErrors.length ? messages(payload.userErrors) : t(done);
      } catch (e) {
        feedsMessage.textContent = e.message;
      }
      // The list is drawn again: the keyboard goes to the message that says what happened.
      await feeds();
      feedsMessage.focus();
    };
    const titleId = 'feed-title-' + feed.id.replace(/[^A-Za-z0-9_-]/g, '');
    const action = (text, onClick) => {
      const b = button('quiet', text, onClick);
      b.setAttribute('aria-describedby', titleId);
      return b;
    };
    const edit = el('form', { class: 'stack', hidden: true },
      el('label', { for: 'move-' + feed.id, text: t('reg.new_url') }),
      el('input', { id: 'move-' + feed.id, type: 'url', required: true, value: feed.url, spellcheck: 'false' }),
      el('span', { class: 'actions' }, el('button', { type: 'submit', text: t('reg.save') }),
        button('quiet', t('reg.cancel'), () => { edit.hidden = true; fixButton().focus(); })));
    const fixButton = () => item.querySelector('.actions button:nth-child(2)');
    edit.addEventListener('submit', (event) => {
      event.preventDefault();
      act('move', { input: { id: feed.id, url: edit.querySelector('input').value.trim() } }, 'reg.saved')();
    });
    item.append(
      el('p', { class: 'item-title', dir: 'auto', id: titleId }, feed.title || feed.url),
      el('p', { class: 'url', dir: 'ltr', text: feed.url }),
      el('p', { class: 'meta' },
        el('span', { class: 'badge state-' + feed.state, text: t('state.' + feed.state) }),
        el('span', { text: t('feedkind.' + feed.kind) }),
        el('span', { text: t('visibility.' + feed.visibility) })),
      feed.state === 'FAILING' && feed.lastError ? el('p', { class: 'error', text: t('reg.last_error', { reason: feed.lastError }) }) : null,
      feed.state === 'FAILING' && feed.nextRetryAt ? el('p', { class: 'meta', text: t('reg.next_retry', { date: date(feed.nextRetryAt) }) }) : null,
      el('div', { class: 'actions' },
        feed.state === 'PAUSED'
          ? action(t('reg.resume'), act('resume', { id: feed.id }, 'reg.saved'))
          : action(t('reg.pause'), act('pause', { id: feed.id }, 'reg.saved')),
        action(t('reg.fix'), () => { edit.hidden = false; edit.querySelector('input').focus(); }),
        action(t('reg.delete'), act('delete', { id: feed.id }, 'reg.deleted'))),
      edit);
    return item;
  }

  Hub.setupToken((viewer) => {
    who = viewer;
    document.getElementById('need-token').hidden = canRegister();
    feeds();
  }, () => {
    // Another token: nothing checked or listed with the old one stays.
    who = null;
    listings += 1;
    feedsList.replaceChildren();
    unchecked();
  });
})();
