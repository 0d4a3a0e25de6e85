// The live dashboard: the newest changes matching the filters, then every new one as the hub
// commits it (graphql-transport-ws, resumed from the last cursor after a dropped connection), the
// chosen network's last seven days (the digest), and the same view as Atom links.
'use strict';

(() => {
  const { t, gql, el, date, number, countryName, languageName } = Hub;
  const PAGE = 30;
  const KEEP = 500;

  const ITEM = `fragment C on Change { cursor sequence kind at backfill item { id title summary url language
    direction publishedAt visibility classification { category categories } countries { country }
    organisation { name } } }`;
  const LATEST = `query Latest($filter: ChangeFilter, $before: String) {
    latestChanges(first: ${PAGE}, before: $before, filter: $filter) { resumeAfter olderBefore nodes { ...C } } } ${ITEM}`;
  const FOLLOW = `subscription Follow($filter: ChangeFilter, $after: String) {
    changes(filter: $filter, after: $after) { ...C } } ${ITEM}`;
  const WEEK = `query Week($network: String!, $since: DateTime!) { digest(network: $network, since: $since) {
    items changes byCategory { category count } byCountry { country name count } } }`;

  const form = document.getElementById('filters');
  const list = document.getElementById('changes');
  const empty = document.getElementById('changes-empty');
  const more = document.getElementById('more');
  const status = document.getElementById('live-status');
  const filterError = document.getElementById('filter-error');
  const fields = {
    network: document.getElementById('f-network'),
    category: document.getElementById('f-category'),
    country: document.getElementById('f-country'),
    language: document.getElementById('f-language'),
    backfill: document.getElementById('f-backfill'),
  };

  for (const c of Hub.CATEGORIES) fields.category.append(el('option', { value: c, text: t('category.' + c) }));
  for (const l of Hub.LANGUAGES) fields.language.append(el('option', { value: l, text: languageName(l) }));

  // The filters live in the address, so a view can be bookmarked or sent.
  const params = new URLSearchParams(location.search);
  fields.category.value = params.get('category') || '';
  fields.country.value = params.get('country') || '';
  fields.language.value = params.get('language') || '';
  fields.backfill.checked = params.get('backfill') !== '0';

  const notice = document.getElementById('live-notice');
  const announce = document.getElementById('announce');

  let networksListed = false;
  let live = null;
  let shown = new Set();
  let older = null;
  // Each load (and each reset) starts a generation; answers to an older one are dropped.
  let generation = 0;
  let loaded = null;

  function chosen() {
    return {
      // Until the networks are listed, the one the address names.
      network: networksListed ? fields.network.value : params.get('network') || '',
      category: fields.category.value,
      country: fields.country.value.trim().toUpperCase(),
      language: fields.language.value,
      backfill: fields.backfill.checked,
    };
  }

  function changeFilter(f) {
    const filter = { includeBackfill: f.backfill };
    if (f.network) filter.networks = [f.network];
    if (f.category) filter.categories = [f.category];
    if (f.country) filter.countries = [f.country];
    if (f.language) filter.languages = [f.language];
    return filter;
  }

  /** The filters as query parameters: the page's own and (without `backfill`) the Atom feed's. */
  function parameters(f) {
    const query = new URLSearchParams();
    if (f.network) query.set('network', f.network);
    if (f.category) query.set('category', f.category);
    if (f.country) query.set('country', f.country);
    if (f.language) query.set('language', f.language);
    return query;
  }

  function remember(f) {
    const query = parameters(f);
    if (!f.backfill) query.set('backfill', '0');
    const search = query.toString();
    history.replaceState(null, '', search ? '?' + search : location.pathname);
    // The language switcher keeps the view.
    for (const a of document.querySelectorAll('.languages a')) {
      const target = new URLSearchParams(query);
      target.set('lang', a.getAttribute('hreflang'));
      a.setAttribute('href', '/?' + target.toString());
    }
    atomLinks(f);
  }

  function atomLinks(f) {
    const search = parameters(f).toString();
    document.getElementById('atom-changes').href = '/feeds/changes.atom' + (search ? '?' + search : '');
    document.getElementById('atom-digest-item').hidden = !f.network;
    if (f.network) {
      document.getElementById('atom-digest').href =
        '/feeds/digest.atom?' + new URLSearchParams({ network: f.network, period: 'week' }).toString();
    }
  }

  function setStatus(state, message) {
    if (state === 'expired') {
      // Kept until the next load: the status line moves on as the connection comes back.
      notice.textContent = t('dash.status.expired');
      notice.hidden = false;
      return;
    }
    status.dataset.state = state === 'refused' ? 'stopped' : state;
    status.textContent = state === 'stopped' ? t('dash.status.stopped', { message }) : t('dash.status.' + state);
  }

  function textOf(item, tag, cls, text) {
    // Item text keeps its own language and direction, whatever the page's.
    return el(tag, { class: cls, lang: item.language || undefined, dir: item.direction || 'auto' }, text);
  }

  function render(change, fresh) {
    const item = change.item;
    const summary = item.summary.length > 320 ? item.summary.slice(0, 317) + '…' : item.summary;
    // Only web links: a feed's `javascript:` URL must not become a link (the CSP would block it too).
    const title = /^https?:\/\//i.test(item.url || '') ? el('a', { href: item.url, rel: 'noopener noreferrer' }, item.title) : item.title;
    const meta = el('p', { class: 'meta' },
      el('span', { class: 'badge kind', text: t('kind.' + change.kind) }),
      el('time', { datetime: change.at, text: date(change.at) }),
      el('span', { text: t('dash.from', { org: item.organisation.name }) }),
      change.backfill ? el('span', { text: t('dash.first_import') }) : null,
      item.visibility === 'NETWORK' ? el('span', { text: t('dash.visibility_network') }) : null,
      item.visibility === 'SOCIETY' ? el('span', { text: t('dash.visibility_society') }) : null);
    const badges = el('ul', { class: 'badges' },
      item.classification.categories.map((c) => el('li', { class: 'badge ' + c, text: t('category.' + c) })),
      item.countries.map((m) => el('li', { class: 'badge', text: countryName(m.country) })));
    return el('li', { class: 'change' + (fresh ? ' fresh' : ''), 'data-sequence': change.sequence, 'data-cursor': change.cursor, 'data-item': item.id },
      meta, textOf(item, 'p', 'item-title', title), summary ? textOf(item, 'p', 'item-summary', summary) : null, badges);
  }

  /**
   * Shows a change: a live one at the top (the oldest row goes past KEEP rows), an older one at
   * the bottom (none past KEEP: the page is not an archive; Atom and the API page further).
   */
  function add(change, where) {
    if (shown.has(change.sequence)) return;
    if (where === 'bottom' && list.children.length >= KEEP) return;
    shown.add(change.sequence);
    const node = render(change, where === 'top');
    if (where === 'top') {
      list.prepend(node);
      announce.textContent = t('kind.' + change.kind) + ': ' + change.item.title;
    } else {
      list.append(node);
    }
    if (list.children.length > KEEP) {
      shown.delete(Number(list.lastElementChild.dataset.sequence));
      list.lastElementChild.remove();
    }
    if (list.children.length >= KEEP) {
      older = null;
      more.hidden = true;
    }
    empty.hidden = true;
  }

  /** Stops following and empties the list at once (a new filter, or another token). */
  function reset() {
    generation += 1;
    if (live) live.stop();
    live = null;
    loaded = null;
    list.replaceChildren();
    shown = new Set();
    older = null;
    empty.hidden = true;
    more.hidden = true;
    notice.hidden = true;
  }

  async function load() {
    const f = chosen();
    filterError.hidden = true;
    if (f.country && !/^[A-Z]{2,3}$/.test(f.country)) {
      filterError.textContent = t('dash.invalid_country', { value: fields.country.value });
      filterError.hidden = false;
      fields.country.focus();
      return;
    }
    remember(f);
    reset();
    const mine = generation;
    status.dataset.state = 'loading';
    status.textContent = t('dash.loading');
    week(f.network);
    const filter = changeFilter(f);
    let page;
    try {
      page = (await gql(LATEST, { filter })).latestChanges;
    } catch (e) {
      if (mine === generation) setStatus('stopped', e.message);
      return;
    }
    if (mine !== generation) return;
    loaded = { filter, generation: mine, network: f.network };
    for (const change of page.nodes) add(change, 'bottom');
    older = list.children.length >= KEEP ? null : page.olderBefore;
    more.hidden = !older;
    empty.hidden = page.nodes.length > 0;
    live = new Hub.Live({
      query: FOLLOW,
      variables: () => ({ filter }),
      after: page.resumeAfter,
      onChange: (change) => add(change, 'top'),
      onStatus: setStatus,
    });
    live.start();
  }

  more.addEventListener('click', async () => {
    if (!older || !loaded) return;
    const { filter, generation: mine } = loaded;
    more.disabled = true;
    try {
      const page = (await gql(LATEST, { filter, before: older })).latestChanges;
      if (mine !== generation) return;
      for (const change of page.nodes) add(change, 'bottom');
      older = list.children.length >= KEEP ? null : page.olderBefore;
      more.hidden = !older;
    } catch (e) {
      if (mine === generation) {
        filterError.textContent = e.message;
        filterError.hidden = false;
      }
    } finally {
      more.disabled = false;
    }
    // The button may have gone: keep the keyboard where the reader was.
    const last = list.lastElementChild;
    if (more.hidden && last) {
      last.setAttribute('tabindex', '-1');
      last.focus();
    }
  });

  let weekGeneration = 0;
  async function week(network) {
    const box = document.getElementById('week');
    const mine = ++weekGeneration;
    if (!network) {
      box.replaceChildren(el('p', { class: 'hint', text: t('dash.week_pick') }));
      return;
    }
    const since = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString();
    try {
      const d = (await gql(WEEK, { network, since })).digest;
      if (mine !== weekGeneration) return;
      const counts = (rows, label) => rows.length
        ? el('ul', { class: 'counts' }, rows.map((r) => el('li', {}, el('span', { text: label(r) }), el('span', { text: number(r.count) }))))
        : el('p', { class: 'hint', text: t('dash.none') });
      box.replaceChildren(
        el('p', { text: t('dash.week_total', { items: number(d.items), changes: number(d.changes) }) }),
        el('h3', { text: t('dash.by_category') }),
        counts(d.byCategory, (r) => t('category.' + r.category)),
        el('h3', { text: t('dash.by_country') }),
        counts(d.byCountry.slice(0, 10), (r) => countryName(r.country)));
    } catch (e) {
      if (mine === weekGeneration) box.replaceChildren(el('p', { class: 'error', text: e.message }));
    }
  }

  // Filters apply with the button (or Enter), not on every change: a keyboard user stepping
  // through a list would otherwise reload and reconnect at each step.
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });

  async function networks() {
    try {
      const data = await gql('{ networks { slug shortName name } }');
      for (const n of data.networks) fields.network.append(el('option', { value: n.slug, text: n.shortName, title: n.name }));
      fields.network.value = (loaded && loaded.network) || params.get('network') || '';
      networksListed = true;
    } catch (e) {
      setStatus('stopped', e.message);
    }
  }

  // The token decides what may be seen: start again whenever it changes.
  // Both at once: on a slow connection every round trip shows.
  networks();
  Hub.setupToken(() => load(), reset);
})();
