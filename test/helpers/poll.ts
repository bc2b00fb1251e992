import { expect } from 'vitest';

/** Reads until `ok` holds (a failed read counts as not yet), or fails naming `what` and the last value read. */
export async function pollUntil<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 90_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read().catch(() => last);
    if (last !== undefined && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  return expect.fail(`never reached: ${what}; last: ${JSON.stringify(last)}`);
}
