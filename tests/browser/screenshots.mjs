// Screenshots of the two web pages in the five languages, for the README (scripts/screenshots.sh
// starts a hub in --demo mode and runs this). Environment: BASE_URL, TOKEN (a MEMBER token of the
// demo feeds' owner), FEED_URL (a demo feed, for the registration preview), OUT (directory),
// CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';

const { BASE_URL, TOKEN, FEED_URL, OUT } = process.env;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });

async function open(path, { token, width = 1100, height = 1000 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  if (token) await context.addInitScript((secret) => sessionStorage.setItem('tributary.token', secret), token);
  const page = await context.newPage();
  await page.goto(BASE_URL + path);
  return page;
}

for (const lang of ['en', 'fr', 'es', 'ar', 'ru']) {
  const dashboard = await open(`/?lang=${lang}&network=perco`);
  await dashboard.locator('#live-status[data-state="live"]').waitFor();
  await dashboard.locator('#changes > li').first().waitFor();
  await dashboard.locator('#week h3').first().waitFor();
  await dashboard.screenshot({ path: `${OUT}/dashboard-${lang}.png` });
  const register = await open(`/register?lang=${lang}`, { token: TOKEN, height: 1500 });
  await register.locator('#feeds > li').first().waitFor();
  await register.fill('#url', FEED_URL);
  await register.locator('#check').click();
  await register.locator('#preview > li').first().waitFor();
  await register.screenshot({ path: `${OUT}/register-${lang}.png` });
  console.log(`${lang}: dashboard and register`);
}
const phone = await open('/?lang=ar', { width: 390, height: 844 });
await phone.locator('#changes > li').first().waitFor();
await phone.screenshot({ path: `${OUT}/dashboard-ar-phone.png` });
console.log('ar: phone');
await browser.close();
