// Tributary's two web pages in Debian's chromium, driven by playwright-core. Run by
// tests/browser.rs against a real hub it started, with these in the environment:
//   BASE_URL       the hub (http://127.0.0.1:PORT)
//   TOKEN          a MEMBER token of the society that registers the feed
//   FEED_URL       a feed on the test's feed server, not yet registered
//   FEED_TITLE     the title of an entry of that feed
//   NETWORK_TITLE  the title of a stored NETWORK item of the same society
//   FAILING_URL    the URL of a feed of that society that fails
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

/** A page in a fresh context (its own sessionStorage), with the token set when given. */
async function open(path, { token, width = 1100, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  if (token) {
    await context.addInitScript((secret) => sessionStorage.setItem('tributary.token', secret), token);
  }
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${path}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${path}: console: ${m.text()}`); });
  await page.goto(BASE + path);
  return page;
}

const live = (page) => page.locator('#live-status[data-state="live"]').waitFor();
const itemTitled = (page, title) => page.locator('#changes .item-title', { hasText: title });

try {
  // An anonymous dashboard and a member's, side by side.
  const anonymous = await open('/?lang=en');
  await live(anonymous);
  await anonymous.evaluate(() => { window.sameDocument = true; });
  const member = await open('/?lang=en', { token: TOKEN });
  await live(member);
  await itemTitled(member, NETWORK_TITLE).waitFor();
  check(true, 'a member dashboard shows the society\'s NETWORK item');
  check(await itemTitled(anonymous, NETWORK_TITLE).count() === 0, 'the anonymous dashboard does not show it');

  // Every field has a label, and the first Tab reaches the skip link.
  for (const page of [anonymous]) {
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select')]
      .filter((e) => e.labels.length === 0).map((e) => e.id));
    check(unlabelled.length === 0, `every dashboard field has a label (${unlabelled.join(', ') || 'all labelled'})`);
  }

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

  await register.fill('#url', FEED_URL);
  await register.locator('#check').click();
  await register.locator('#found').waitFor();
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
  const english = itemTitled(arabic, FEED_TITLE);
  await english.waitFor();
  check(await english.getAttribute('dir') === 'ltr', 'an English item in the Arabic page keeps dir="ltr"');

  check(problems.length === 0, `no script errors in the pages (${problems.join('; ') || 'none'})`);
} catch (e) {
  console.log(`not ok - ${e.message}`);
  if (problems.length) console.log(`page errors: ${problems.join('; ')}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
