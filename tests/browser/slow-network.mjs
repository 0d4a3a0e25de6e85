// The pages over a slow connection: chromium with the network throttled through the DevTools
// protocol (no cache, a fresh context each run), timing the dashboard until its first changes are
// shown and the live connection is up, and the registration page until it can be used.
// scripts/slow-network.sh runs it against a demo hub. Environment: BASE_URL.
import { chromium } from 'playwright-core';

const { BASE_URL } = process.env;
const RUNS = 3;
// Chrome DevTools' own presets, throughput in bytes a second.
const PROFILES = [
  { name: 'Slow 3G (400 ms, 400 kbit/s)', latency: 400, down: 50000, up: 50000 },
  { name: 'Fast 3G (150 ms, 1.6 Mbit/s)', latency: 150, down: 200000, up: 93750 },
];
const PAGES = [
  { path: '/?lang=ar', ready: (page) => page.locator('#changes > li').first().waitFor(),
    live: (page) => page.locator('#live-status[data-state="live"]').waitFor() },
  { path: '/register?lang=fr', ready: (page) => page.locator('#check').waitFor(),
    live: (page) => page.locator('#token-status').waitFor() },
];

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log('| connection | page | DOM ready | content shown | live / usable | HTTP bytes |');
console.log('|---|---|---:|---:|---:|---:|');
for (const profile of PROFILES) {
  for (const target of PAGES) {
    const runs = { dom: [], shown: [], live: [], bytes: [] };
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false, latency: profile.latency, downloadThroughput: profile.down, uploadThroughput: profile.up,
      });
      let bytes = 0;
      cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
      const start = Date.now();
      await page.goto(BASE_URL + target.path, { waitUntil: 'domcontentloaded' });
      runs.dom.push(Date.now() - start);
      await target.ready(page);
      runs.shown.push(Date.now() - start);
      await target.live(page);
      runs.live.push(Date.now() - start);
      runs.bytes.push(bytes);
      await context.close();
    }
    const s = (ms) => (median(ms) / 1000).toFixed(2) + ' s';
    console.log(`| ${profile.name} | \`${target.path}\` | ${s(runs.dom)} | ${s(runs.shown)} | ${s(runs.live)} | ${median(runs.bytes)} |`);
  }
}
await browser.close();
