/**
 * Presence (DESIGN §7) against a fake signaling server: only ids that were asked about
 * are believed, long lists are split into requests of at most PRESENCE_BATCH ids, and
 * every way the server can fail is a `PresenceError` with a message a person can act on.
 */
import { describe, expect, it } from 'vitest';
import { fetchPresence, PRESENCE_BATCH, PresenceError } from '../src/p2p/presence.ts';
import type { Fingerprint } from '../src/protocol/ids.ts';

const BASE = 'http://127.0.0.1:9000/peerjs';
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** A distinct, well-formed fingerprint for each `n`. */
function fp(n: number): Fingerprint {
  let tail = '';
  for (let i = 0; i < 4; i++) tail += ALPHABET[(n >> (5 * i)) & 31];
  return `${'q'.repeat(48)}${tail}` as Fingerprint;
}

/** A fake `fetch` that records every URL and answers with `answer(askedIds)`. */
function fakeFetch(answer: (asked: string[]) => Response | Promise<Response>): { fetchImpl: typeof fetch; urls: URL[] } {
  const urls: URL[] = [];
  const fetchImpl = (async (input: RequestInfo | URL) => {
    const url = new URL(String(input));
    urls.push(url);
    const ids = url.searchParams.get('ids');
    return answer(ids ? ids.split(',') : []);
  }) as typeof fetch;
  return { fetchImpl, urls };
}

/** Each request gets a fresh presence token (the real one: `() => makePresenceToken(identity)`). */
let tokens = 0;
const token = async () => `presence-token-${++tokens}`;

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

async function failure(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => null,
    (error: unknown) => error,
  );
}

describe('fetchPresence', () => {
  it('asks the presence route and returns the online ids it asked about', async () => {
    const { fetchImpl, urls } = fakeFetch(() => json({ online: [fp(2)] }));
    expect(await fetchPresence(BASE, [fp(1), fp(2), fp(3)], token, fetchImpl)).toEqual([fp(2)]);
    expect(urls).toHaveLength(1);
    expect(`${urls[0]!.origin}${urls[0]!.pathname}`).toBe(`${BASE}/presence`);
    expect(urls[0]!.searchParams.get('ids')).toBe([fp(1), fp(2), fp(3)].join(','));
  });

  it('ignores ids it did not ask about', async () => {
    const { fetchImpl } = fakeFetch(() => json({ online: [fp(9), fp(1), 'not-even-a-fingerprint', fp(10)] }));
    expect(await fetchPresence(BASE, [fp(1), fp(2)], token, fetchImpl)).toEqual([fp(1)]);
  });

  it('believes an id once, even when the server repeats it', async () => {
    const { fetchImpl } = fakeFetch(() => json({ online: [fp(1), fp(1), fp(2), fp(1)] }));
    expect(await fetchPresence(BASE, [fp(1), fp(2)], token, fetchImpl)).toEqual([fp(1), fp(2)]);
  });

  it('splits more than PRESENCE_BATCH ids into several requests and joins the answers', async () => {
    const ids = Array.from({ length: 2 * PRESENCE_BATCH + 50 }, (_, i) => fp(i));
    const online = new Set([fp(0), fp(99), fp(100), fp(199), fp(200), fp(249)]);
    const { fetchImpl, urls } = fakeFetch((asked) => json({ online: asked.filter((id) => online.has(id as Fingerprint)) }));
    expect(await fetchPresence(BASE, ids, token, fetchImpl)).toEqual([...online]);
    const batches = urls.map((u) => u.searchParams.get('ids')!.split(','));
    expect(batches.map((b) => b.length)).toEqual([PRESENCE_BATCH, PRESENCE_BATCH, 50]);
    expect(batches.flat()).toEqual(ids);
  });

  it('asks each id once, even when the caller repeats it', async () => {
    const { fetchImpl, urls } = fakeFetch((asked) => json({ online: asked }));
    const ids = [...Array.from({ length: PRESENCE_BATCH }, (_, i) => fp(i)), fp(0), fp(1)];
    expect(await fetchPresence(BASE, ids, token, fetchImpl)).toHaveLength(PRESENCE_BATCH);
    expect(urls).toHaveLength(1);
  });

  it('makes no request for no ids', async () => {
    const { fetchImpl, urls } = fakeFetch(() => json({ online: [] }));
    expect(await fetchPresence(BASE, [], token, fetchImpl)).toEqual([]);
    expect(urls).toHaveLength(0);
  });

  it('accepts a base address with a trailing slash', async () => {
    const { fetchImpl, urls } = fakeFetch(() => json({ online: [] }));
    await fetchPresence(`${BASE}/`, [fp(1)], token, fetchImpl);
    expect(urls[0]!.pathname).toBe('/peerjs/presence');
  });

  it('names an unreachable server', async () => {
    const fetchImpl = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    const error = await failure(fetchPresence(BASE, [fp(1)], token, fetchImpl));
    expect(error).toBeInstanceOf(PresenceError);
    expect((error as PresenceError).message).toContain('cannot be reached');
    expect((error as PresenceError).message).toContain(BASE);
  });

  it('names a non-200 answer with its status', async () => {
    const { fetchImpl } = fakeFetch(() => json({ error: 'ids must be up to 100 comma-separated fingerprints' }, 400));
    const error = await failure(fetchPresence(BASE, [fp(1)], token, fetchImpl));
    expect(error).toBeInstanceOf(PresenceError);
    expect((error as PresenceError).message).toContain('400');
  });

  it.each([
    ['a body that is not JSON', () => new Response('<html>proxy error</html>', { status: 200 })],
    ['JSON of another shape', () => json({ peers: [] })],
    ['a list of non-strings', () => json({ online: [1, 2] })],
    ['more ids than one request may carry', () => json({ online: Array.from({ length: PRESENCE_BATCH + 1 }, (_, i) => fp(i)) })],
  ])('names %s as not a presence list', async (_name, answer) => {
    const { fetchImpl } = fakeFetch(answer);
    const error = await failure(fetchPresence(BASE, [fp(1)], token, fetchImpl));
    expect(error).toBeInstanceOf(PresenceError);
    expect((error as PresenceError).message).toContain('not a presence list');
  });
});
