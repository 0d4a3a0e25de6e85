// Tributary's two web pages in Debian's chromium, driven by playwright-core. Run by
// tests/browser.rs against a real hub it started, with these in the environment:
//   BASE_URL       the hub (http://127.0.0.1:PORT)
//   TOKEN          a MEMBER token of the society that registers the feed
//   FEED_URL       a feed on the test's feed server, not yet registered
//   FEED_TITLE     the title of an entry of that feed
//   NETWORK_TITLE  the title of a stored NETWORK item of the same society
//   FAILING_URL    the URL of a feed of that society that fails
//   CSV_URL        a CSV file with HXL tags, and CSV_TITLE the event of its first row
//   PAGE_URL       the society's web page, which advertises FEED_URL
//   CHROMIUM       optional: the browser (default /usr/bin/chromium)
// Prints `ok - …` for each check; exits 1 at the first that fails.
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env('BASE_URL');
const TOKEN = env('TOKEN');
const FEED_URL = env('FEED_URL');
const FEED_TITLE = env('FEED_TITLE');
const NETWORK_TITLE = env('NETWORK_TITLE');
const FAILING_URL = env('FAILING_URL');
const CSV_URL = env('CSV_URL');
const PAGE_URL = env('PAGE_URL');
const CSV_TITLE = env('CSV_TITLE');
const LANGUAGES = ['en', 'fr', 'es', 'ar', 'ru'];

const started = Date.now();
function check(condition, what) {
  if (!condition) throw new Error(what);
  console.log(`ok - ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // The sandbox needs user namespaces, which containers (and root) often lack.
  args: ['--no-sandbox'],
});
const problems = [];

/**
 * A page in a fresh context (its own sessionStorage), with the token set when given. With
 * `sockets`, its WebSocket connections pass through the test, which can drop them
 * (`sockets.drop()`) and hold reconnections back until `sockets.release()`.
 */
async function open(path, { token, width = 1100, height = 900, sockets } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  if (token) {
    await context.addInitScript((secret) => sessionStorage.setItem('tributary.token', secret), token);
  }
  const page = await context.newPage();
  if (sockets) {
    await page.routeWebSocket(/\/graphql\/ws$/, (ws) => {
      if (sockets.held) {
        sockets.refused += 1;
        sockets.onRefused();
        ws.close();
        return;
      }
      sockets.open = { ws, server: ws.connectToServer() };
      sockets.connections += 1;
    });
  }
  page.on('pageerror', (e) => problems.push(`${path}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${path}: console: ${m.text()}`); });
  await page.goto(BASE + path);
  return page;
}

const live = (page) => page.locator('#live-status[data-state="live"]').waitFor();
const itemTitled = (page, title) => page.locator('#changes .item-title', { hasText: title });

/** WebSocket connections the test controls (see `open`). */
function sockets() {
  let onRefused;
  const refusal = new Promise((resolve) => { onRefused = resolve; });
  return {
    open: null,
    held: false,
    refused: 0,
    connections: 0,
    /** Settles when a reconnection was first held back. */
    refusal,
    onRefused,
    async drop() {
      this.held = true;
      await this.open.ws.close();
      await this.open.server.close();
    },
    release() {
      this.held = false;
    },
  };
}

/** GraphQL over HTTP as the member, from the test. */
async function gql(query, variables) {
  const response = await fetch(BASE + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + TOKEN },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/**
 * Visible text whose contrast with what is behind it is under 4.5:1 (WCAG AA for body text),
 * as "text (ratio)".
 */
function lowContrast(page) {
  return page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
      const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const low = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!node.textContent.trim() || !el.getClientRects().length) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || el.closest('[hidden]') || el.closest('.skip')) continue;
      const [a, b] = [luminance(rgb(style.color).slice(0, 3)), luminance(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) low.push(`${node.textContent.trim().slice(0, 30)} (${ratio.toFixed(2)})`);
    }
    return low;
  });
}

try {
  // An anonymous dashboard and a member's, side by side.
  const anonymousSockets = sockets();
  const anonymous = await open('/?lang=en', { sockets: anonymousSockets });
  await live(anonymous);
  await anonymous.evaluate(() => { window.sameDocument = true; });
  const member = await open('/?lang=en', { token: TOKEN });
  await live(member);
  await itemTitled(member, NETWORK_TITLE).waitFor();
  check(true, 'a member dashboard shows the society\'s NETWORK item');
  check(await itemTitled(anonymous, NETWORK_TITLE).count() === 0, 'the anonymous dashboard does not show it');
  check(await anonymous.locator('#changes-empty').isVisible(), 'it says nothing matches yet');

  // Every field has a label, and the first Tab reaches the skip link.
  for (const page of [anonymous]) {
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select')]
      .filter((e) => e.labels.length === 0).map((e) => e.id));
    check(unlabelled.length === 0, `every dashboard field has a label (${unlabelled.join(', ') || 'all labelled'})`);
  }

  const first = await open('/?lang=en');
  await first.keyboard.press('Tab');
  check(await first.evaluate(() => document.activeElement.className) === 'skip', 'the first Tab reaches the skip link');
  await first.keyboard.press('Enter');
  await first.waitForURL(/#main$/);
  check(true, 'which leads to the content');

  // A focal point registers a feed through /register.
  const register = await open('/register?lang=en');
  check(await register.locator('#need-token').isVisible(), 'without a token the page says one is needed');
  await register.locator('#token-panel summary').click();
  await register.fill('#token-input', TOKEN);
  await register.locator('#token-form button[type="submit"]').click();
  await register.locator('#token-status', { hasText: 'member' }).waitFor();
  check(await register.locator('#need-token').isHidden(), 'with a member token the page offers registration');
  const failing = register.locator('#feeds > li', { hasText: FAILING_URL });
  await failing.waitFor();
  check(await failing.locator('.badge', { hasText: 'Failing' }).count() === 1, 'the society\'s failing feed is listed as Failing');
  check(await failing.locator('.error', { hasText: 'Why it fails' }).count() === 1, 'with the reason it fails');
  check(await failing.locator('.meta', { hasText: 'Next attempt' }).count() === 1, 'and its next attempt');
  const unlabelled = await register.evaluate(() => [...document.querySelectorAll('input, select')]
    .filter((e) => e.labels.length === 0).map((e) => e.id));
  check(unlabelled.length === 0, `every registration field has a label (${unlabelled.join(', ') || 'all labelled'})`);

  // The society's web page first: it is not a feed, but it names one.
  await register.fill('#url', PAGE_URL);
  await register.locator('#check').click();
  const advertised = register.locator('#alternates > li', { hasText: FEED_URL });
  await advertised.waitFor();
  check(await register.locator('#found-kind').textContent() === 'This page is not a feed.', 'a web page is said not to be a feed');
  check(await register.locator('#register-form').isHidden(), 'and cannot be registered');
  await advertised.locator('button').click();
  await register.locator('#found-kind', { hasText: 'RSS' }).waitFor();
  check(await register.inputValue('#url') === FEED_URL, 'the feed it advertises is taken with one click');
  check((await register.locator('#found-kind').textContent()).includes('RSS'), 'the preview says the kind');
  const preview = register.locator('#preview > li', { hasText: FEED_TITLE });
  await preview.waitFor();
  check(true, 'the preview shows the feed\'s first item');
  const facts = await preview.locator('dd').allTextContents();
  check(facts[0] === 'English', `with its detected language (${facts[0]})`);
  check(facts[1].includes('Italy'), `its countries (${facts[1]})`);
  check(await preview.locator('.badge.ROUTE_CHANGE').count() === 1, 'and its categories');
  await register.selectOption('#visibility', 'PUBLIC');
  await register.locator('#register').click();
  await register.locator('#register-result', { hasText: 'Registered' }).waitFor();
  check(true, 'the feed is registered');
  await register.locator('#feeds > li', { hasText: FEED_URL }).waitFor();
  check(true, 'and listed among the society\'s feeds');

  // The dashboard beside it shows the new item without a reload.
  await itemTitled(anonymous, FEED_TITLE).waitFor({ timeout: 60000 });
  check(await anonymous.evaluate(() => window.sameDocument === true), 'the new item arrived live, without a reload');
  check(await itemTitled(anonymous, NETWORK_TITLE).count() === 0, 'the anonymous dashboard still shows no NETWORK item');

  // The connection drops; while the dashboard cannot reconnect, the item is reclassified by hand.
  // Reconnected, it resumes from its last cursor: the UPDATED change arrives, still without a reload.
  await anonymousSockets.drop();
  await anonymous.locator('#live-status[data-state="reconnecting"]').waitFor();
  check(true, 'a dropped connection is shown');
  const itemId = await anonymous.locator('#changes > li', { hasText: FEED_TITLE }).first().getAttribute('data-item');
  await gql('mutation($id: ID!) { classifyItem(input: { id: $id, category: NEEDS }) { userErrors { message } } }', { id: itemId });
  await anonymousSockets.refusal;
  anonymousSockets.release();
  const updated = anonymous.locator('#changes > li', { hasText: FEED_TITLE }).filter({ has: anonymous.locator('.badge.kind', { hasText: 'Updated' }) });
  await updated.waitFor({ timeout: 60000 });
  check(anonymousSockets.connections === 2, `the dashboard reconnected (${anonymousSockets.connections} connections, ${anonymousSockets.refused} refused)`);
  check(await updated.locator('.badge.NEEDS').count() === 1, 'and received the change made while it was away');
  check(await anonymous.locator('#changes > li', { hasText: FEED_TITLE }).count() === 2, 'once, beside the item\'s first change');
  check(await anonymous.evaluate(() => window.sameDocument === true), 'still without a reload');

  // A CSV file, checked with a ready mapping.
  await register.locator('#mapping-panel summary').click();
  await register.selectOption('#kind', 'CSV');
  await register.selectOption('#preset', 'hxl');
  await register.fill('#url', CSV_URL);
  await register.locator('#check').click();
  await register.locator('#preview > li', { hasText: CSV_TITLE }).waitFor();
  check((await register.locator('#found-kind').textContent()) === 'CSV file', 'a CSV file is checked with a ready mapping');

  // Pause and resume from the list.
  const registered = register.locator('#feeds > li', { hasText: FEED_URL });
  await registered.locator('button', { hasText: 'Pause' }).click();
  await register.locator('#feeds > li', { hasText: FEED_URL }).locator('.badge', { hasText: 'Paused' }).waitFor();
  check(true, 'the feed can be paused');
  await register.locator('#feeds > li', { hasText: FEED_URL }).locator('button', { hasText: 'Resume' }).click();
  await register.locator('#feeds > li', { hasText: FEED_URL }).locator('.badge', { hasText: 'Active' }).waitFor();
  check(true, 'and resumed');

  // The Arabic interface is laid out right to left; item text keeps its own direction.
  const arabic = await open('/?lang=ar');
  await live(arabic);
  check(await arabic.evaluate(() => document.documentElement.dir) === 'rtl', 'Arabic pages have dir="rtl"');
  check(await arabic.evaluate(() => getComputedStyle(document.body).direction) === 'rtl', 'and lay out right to left');
  const brand = await arabic.locator('.brand').boundingBox();
  check(brand.x > 1100 / 2, `the name sits on the right (x = ${Math.round(brand.x)})`);
  check(/[\u0600-\u06FF]/.test(await arabic.locator('h1').textContent()), 'the heading is in Arabic');
  const english = itemTitled(arabic, FEED_TITLE).first();
  await english.waitFor();
  check(await english.getAttribute('dir') === 'ltr', 'an English item in the Arabic page keeps dir="ltr"');

  for (const [name, page] of [['dashboard', anonymous], ['registration page', register], ['Arabic dashboard', arabic]]) {
    const low = await lowContrast(page);
    check(low.length === 0, `all text on the ${name} has a contrast of at least 4.5:1 (${low.join('; ') || 'none lower'})`);
  }

  // The feed moves: its address is changed from the list.
  const moved = FEED_URL + '?moved=1';
  let current = FEED_URL;
  const row = () => register.locator('#feeds > li', { hasText: current });
  await row().locator('button', { hasText: 'Change the address' }).click();
  await row().locator('input[type="url"]').fill(moved);
  await row().locator('button', { hasText: 'Save' }).click();
  current = moved;
  await register.locator('#feeds > li .url', { hasText: moved }).waitFor();
  check(true, 'the feed\'s address is changed from the list');
  await register.waitForFunction(() => document.activeElement.id === 'feeds-message');
  check((await register.locator('#feeds-message').textContent()) === 'Saved.', 'and the keyboard lands on what happened');

  // Deleted from the list: its items are withdrawn, and the dashboard is told at once.
  register.once('dialog', (dialog) => dialog.accept());
  await row().locator('button', { hasText: 'Delete' }).click();
  await register.locator('#feeds-message', { hasText: 'deleted' }).waitFor();
  await register.locator('#feeds > li .url', { hasText: moved }).waitFor({ state: 'detached' });
  check(true, 'the feed is deleted from the list, after a confirmation');
  const withdrawn = anonymous.locator('#changes > li', { hasText: FEED_TITLE }).filter({ has: anonymous.locator('.badge.kind', { hasText: 'Withdrawn' }) });
  await withdrawn.waitFor();
  check(true, 'its item\'s withdrawal reaches the dashboard live');

  check(problems.length === 0, `no script errors in the pages (${problems.join('; ') || 'none'})`);
} catch (e) {
  console.log(`not ok - ${e.message}`);
  if (problems.length) console.log(`page errors: ${problems.join('; ')}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
