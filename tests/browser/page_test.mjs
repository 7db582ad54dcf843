// page_test.mjs - drives Debian's chromium (headless, via playwright-core)
// through docqa's web page: ask, watch the answer stream in, click a
// citation, check the page image shows with a highlight drawn on it, switch
// to Chinese, upload a file, and look at the page on a phone-sized screen.
// Usage: node page_test.mjs <server url> <screenshot dir>
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  console.log('ok - ' + what);
}

async function withBrowser(locale, viewport, fn) {
  const dir = mkdtempSync(join(tmpdir(), 'docqa-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS,
    locale, viewport,
  });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(30000);
    page.on('pageerror', (e) => { throw new Error('page error: ' + e.message); });
    await fn(page);
  } finally {
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Counts pixels of the highlight's fill (yellow blended over white paper) in
// the shown page image, read back through a canvas.
async function highlightPixels(page) {
  return page.evaluate(() => {
    const img = document.getElementById('viewer-image');
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (d[i] > 240 && d[i + 1] > 225 && d[i + 1] < 250 && d[i + 2] > 140 && d[i + 2] < 190) n++;
    return n;
  });
}

async function waitImage(page) {
  await page.waitForFunction(() => {
    const img = document.getElementById('viewer-image');
    return img && img.complete && img.naturalWidth > 0;
  });
}

await withBrowser('en-US', { width: 1280, height: 900 }, async (page) => {
  await page.goto(url);
  check(await page.textContent('#tab-ask') === 'Ask', 'English UI for an English browser');
  check(await page.evaluate(() => document.activeElement.id) === 'question', 'the question box has focus');
  await page.keyboard.type('How long is the warranty period?');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.turn[data-done="true"]');
  const answer = await page.textContent('.turn .a');
  check(answer.includes('24 months') && answer.includes('[1]'), 'the streamed answer arrived: ' + answer);
  const chip = page.locator('.sources button.chip').first();
  check((await chip.textContent()).includes('manual-en.pdf p. 2'), 'a citation chip names file and page');
  await chip.click();
  await waitImage(page);
  const marks = Number(await page.getAttribute('#viewer-image', 'data-highlights'));
  check(marks > 0, `the page image has ${marks} highlight boxes`);
  const px = await highlightPixels(page);
  check(px > 2000, `highlight drawn on the page image (${px} highlighted pixels)`);
  check((await page.getAttribute('#viewer-image', 'alt')).includes('highlighted'), 'the image has a text alternative');
  await page.screenshot({ path: join(shots, 'serve-answer-en.png') });
  await page.keyboard.press('Escape');
  check(await page.isHidden('#viewer'), 'Escape closes the page view');
  check(await page.evaluate(() => document.activeElement.classList.contains('chip')), 'focus returns to the chip');

  // documents view: list, then a drag-and-drop style upload through the file input
  await page.click('#tab-docs');
  await page.waitForSelector('#docs-table tbody tr td.path');
  check(await page.locator('#docs-table tbody tr').count() === 4, 'documents view lists the four files');
  // a real drop event carrying a file, as a drag from the desktop makes
  const drop = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['# Library hours\n\nThe reading room opens at nine and closes at eight.\n'],
      'hours.md', { type: 'text/markdown' }));
    return dt;
  });
  await page.dispatchEvent('#drop-zone', 'dragover', { dataTransfer: drop });
  check(await page.evaluate(() => document.getElementById('drop-zone').classList.contains('over')),
    'the drop zone shows a file is over it');
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: drop });
  await page.waitForFunction(() => /Done: 1 added, 0 failed/.test(document.getElementById('upload-status').textContent));
  await page.waitForFunction(() => document.querySelectorAll('#docs-table tbody tr').length === 5);
  check(await page.getAttribute('#upload-progress', 'value') === '100', 'the progress bar reached the end');
  await page.screenshot({ path: join(shots, 'serve-documents.png') });
  await page.click('#tab-ask');
  await page.fill('#question', 'When does the reading room open?');
  await page.press('#question', 'Enter');
  await page.waitForSelector('.turn:nth-child(2)[data-done="true"]');
  const second = await page.textContent('.turn:nth-child(2) .a');
  check(second.includes('nine'), 'the uploaded file answers questions: ' + second);
  // a text file has no page image: its passage is shown instead
  await page.locator('.turn:nth-child(2) button.chip').first().click();
  await page.waitForSelector('#viewer-passage');
  check((await page.textContent('#viewer-passage')).includes('reading room'), 'a text source shows its passage');
  await page.keyboard.press('Escape');
  // an Office source is cited by slide and shown as text with its terms marked
  await page.fill('#question', 'What is the price of copper?');
  await page.press('#question', 'Enter');
  await page.waitForSelector('.turn:nth-child(3)[data-done="true"]');
  const officeChip = page.locator('.turn:nth-child(3) button.chip').first();
  check((await officeChip.textContent()).includes('deck.pptx, slide 2'), 'an Office source is cited by slide');
  await officeChip.click();
  await page.waitForSelector('#viewer-passage mark');
  check((await page.textContent('#viewer-passage')).includes('Copper'), 'an Office source shows its passage');
  check(await page.locator('#viewer-image').count() === 0, 'an Office source has no page image');
});

await withBrowser('zh-CN', { width: 1280, height: 900 }, async (page) => {
  await page.goto(url);
  check(await page.textContent('#tab-ask') === '提问', 'Chinese UI for a Chinese browser');
  await page.fill('#question', '合同的违约金是多少？');
  await page.press('#question', 'Enter');
  await page.waitForSelector('.turn[data-done="true"]');
  const answer = await page.textContent('.turn .a');
  check(answer.includes('违约金'), 'Chinese answer streamed: ' + answer.slice(0, 40));
  await page.locator('.turn .a button.cite').first().click();
  await waitImage(page);
  const px = await highlightPixels(page);
  check(px > 2000, `inline [n] citation shows the page with the passage highlighted (${px} pixels)`);
  await page.screenshot({ path: join(shots, 'serve-answer-zh.png') });
});

await withBrowser('en-US', { width: 390, height: 844 }, async (page) => {
  await page.goto(url);
  await page.fill('#question', 'How long is the warranty period?');
  await page.press('#question', 'Enter');
  await page.waitForSelector('.turn[data-done="true"]');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, 'no sideways scrolling on a phone-sized screen');
  await page.screenshot({ path: join(shots, 'serve-phone.png') });
  await page.locator('.sources button.chip').first().click();
  await waitImage(page);
  const w = await page.evaluate(() => document.getElementById('viewer-image').getBoundingClientRect().width);
  check(w <= 390, 'the page image fits the phone screen');
  await page.screenshot({ path: join(shots, 'serve-phone-page.png') });
});
console.log('browser test passed; screenshots in ' + shots);
