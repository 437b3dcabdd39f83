/// <reference lib="dom" />
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { buildOfflineApp, type OfflineApp } from './support/offline-app.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Violation {
  readonly directive: string;
  readonly blocked: string;
}

/**
 * The API reference page under the gateway's Content-Security-Policy, in a
 * real headless Chromium: swagger-ui renders its operations and the browser
 * reports no CSP violation (console and `securitypolicyviolation` events).
 */
describe('/docs under the CSP (headless Chromium)', () => {
  let launched: Promise<BrowserContext> | undefined;
  let profile: string | undefined;
  const apps: OfflineApp[] = [];

  /** The browser, started by the first test; a missing Chromium fails every test (never skips). */
  const browser = () =>
    (launched ??= (async () => {
      if (!existsSync(CHROMIUM)) {
        throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (Debian; \`npm test\` runs tools/infra/ensure.sh, which does it as root), or set CHROMIUM_PATH.`);
      }
      profile = mkdtempSync(join(tmpdir(), 'csda-chromium-'));
      return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
    })());

  afterAll(async () => {
    await (await launched?.catch(() => undefined))?.close();
    for (const built of apps) await built.app.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** A gateway on a free port; `production` picks the production header set. */
  const startGateway = async (production: boolean) => {
    const built = await buildOfflineApp({ exposeInternals: !production });
    apps.push(built);
    await built.app.listen({ host: '127.0.0.1', port: 0 });
    const address = built.app.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  };

  /** A page that records every CSP violation and console error. */
  const watchedPage = async (): Promise<{ page: Page; violations: Violation[]; consoleErrors: string[] }> => {
    const page = await (await browser()).newPage();
    const violations: Violation[] = [];
    const consoleErrors: string[] = [];
    await page.exposeFunction('__cspViolation', (v: Violation) => violations.push(v));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        (window as unknown as { __cspViolation(v: Violation): void }).__cspViolation({ directive: e.violatedDirective, blocked: e.blockedURI });
      });
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error' || /Content.Security.Policy/i.test(msg.text())) consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    return { page, violations, consoleErrors };
  };

  for (const production of [true, false]) {
    it(`renders the operations list with no CSP violation (${production ? 'production' : 'development'} headers)`, async () => {
      const base = await startGateway(production);
      const { page, violations, consoleErrors } = await watchedPage();
      const res = await page.goto(`${base}/docs/`, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      const csp = (await res?.allHeaders())?.['content-security-policy'] ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
      expect(csp.includes('upgrade-insecure-requests')).toBe(production);

      await page.waitForSelector('.opblock', { timeout: 20_000 });
      const operations = await page.locator('.opblock').count();
      expect(operations).toBeGreaterThan(10);
      expect(await page.locator('.opblock-tag', { hasText: 'vault' }).count()).toBeGreaterThan(0);
      expect(await page.locator('.opblock-summary-path', { hasText: '/api/v1/vault/secrets/{id}/value' }).count()).toBeGreaterThan(0);
      // swagger-ui's stylesheet applied (a blocked style-src leaves the page unstyled).
      const tagFont = await page.locator('.opblock-tag').first().evaluate((el) => getComputedStyle(el).fontFamily);
      expect(tagFont).toMatch(/sans-serif/);
      await page.waitForTimeout(300); // late violations (fonts, images) still count
      expect(violations).toEqual([]);
      expect(consoleErrors).toEqual([]);
      await page.close();
    }, 60_000);
  }

  it('detects a violation when the page breaks the policy (the check can fail)', async () => {
    const base = await startGateway(true);
    const { page, violations, consoleErrors } = await watchedPage();
    await page.goto(`${base}/docs/`, { waitUntil: 'load' });
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.body.appendChild(s);
    });
    await expect.poll(() => violations.length, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(violations[0]?.directive).toMatch(/script-src/);
    expect(await page.evaluate(() => (window as unknown as { __inlineRan?: boolean }).__inlineRan)).toBeUndefined();
    expect(consoleErrors.join('\n')).toMatch(/Content Security Policy/);
    await page.close();
  }, 60_000);
});
