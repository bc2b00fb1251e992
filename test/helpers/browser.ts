/** Real Chromium (Debian's package), headless, rendering a page as an operator's browser would. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** Found on PATH, where Debian's package puts it (scripts/setup.sh installs it when missing). */
export const CHROMIUM = 'chromium';

/**
 * The DOM after the page's scripts ran (virtual time lets the single-page app fetch and render its data).
 * The flags keep Chromium off the network, which this machine does not have, apart from the page itself.
 */
export async function renderedDom(url: string, virtualTimeMs = 15_000): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'understudy-chromium-'));
  try {
    const { stdout } = await run(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        `--virtual-time-budget=${virtualTimeMs}`,
        '--dump-dom',
        url,
      ],
      { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
    );
    return stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
