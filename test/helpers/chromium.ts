/** Headless Chromium (Debian's `chromium` package; .ci/run installs it) for tests of the pages Parallax serves. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((x): x is string => x !== undefined && x !== '');

export function chromiumPath(): string {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`no Chromium found (tried ${CANDIDATES.join(', ')}): apt-get install chromium, or set CHROMIUM`);
  return found;
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars', '--no-first-run'];

/** Load `url` in headless Chromium and return the DOM after the page has loaded. */
export function dumpDom(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(chromiumPath(), [...FLAGS, '--dump-dom', url], { timeout: 60_000, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`chromium --dump-dom ${url} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Screenshot of `url` (PNG) at the given window size. */
export function screenshot(url: string, file: string, width = 1240, height = 720): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(chromiumPath(), [...FLAGS, `--window-size=${width},${height}`, `--screenshot=${file}`, url], { timeout: 60_000 }, (err, _o, stderr) => {
      if (err !== null) reject(new Error(`chromium --screenshot ${url} failed: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
}
