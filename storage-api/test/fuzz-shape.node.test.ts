/**
 * A bounded fuzz run against a real storage API on loopback (SQLite and PostgreSQL), part of the
 * normal test run (issue 10, item 9): a few hundred requests, random or mutated from
 * valid ones — methods, paths, batches, query inputs, headers, bodies, lengths, bytes —
 * sent over raw sockets. Every answer must come back (a request cut short gets 408, not
 * silence), no answer may be 5xx, and every non-2xx answer must have the documented
 * error shape (docs/API.md "Errors on the wire"). Afterwards the server still serves a
 * real client, and its log holds no stack.
 *
 * Deterministic: the seed is fixed (CONCLAVE_FUZZ_SEED to try another; the failing
 * request is printed with the seed). CONCLAVE_FUZZ_COUNT changes the number of requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_CALLS } from '@conclave/shared/protocol';
import type { GroupId } from '@conclave/shared/protocol';
import { newDevice, type Device } from './support/clients.ts';
import { errorShapeProblem, exchange, requestText, type RawAnswer } from './support/raw-http.ts';
import { startServer, STORE_KINDS, type TestServer } from './support/server.ts';

const SEED = Number(process.env.CONCLAVE_FUZZ_SEED ?? 0x5eed10);
const COUNT = Number(process.env.CONCLAVE_FUZZ_COUNT ?? 320);
const PARALLEL = 16;

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Req {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** Leave Content-Length as the mutation set it (possibly wrong). */
  rawLength?: boolean;
}

function serialise(req: Req): Buffer {
  const headers = [...req.headers];
  if (!req.rawLength && req.body.length > 0 && !headers.some(([k]) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding')) {
    headers.push(['content-length', String(req.body.length)]);
  }
  const head = `${req.method} ${req.path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), req.body]);
}

function describeReq(req: Req): string {
  const body = req.body.toString('utf8');
  return `${req.method} ${req.path.slice(0, 200)} ${JSON.stringify(req.headers).slice(0, 300)} body(${req.body.length})=${body.slice(0, 200)}`;
}

describe.each(STORE_KINDS)('fuzzed requests get the documented error shape (%s)', (kind) => {
  let server: TestServer;
  let device: Device;
  let groupId: GroupId;
  let seeds: Req[];
  let seedNoteId: string;

  beforeAll(async () => {
    server = await startServer(kind, {
      // Generous rate limit (the fuzz is one IP); short timeouts so a request cut short is answered quickly.
      config: { rateLimitPerMinute: 1_000_000, requestTimeoutMs: 1500, headersTimeoutMs: 1000, bodyLimit: 256 * 1024 },
    });
    device = await newDevice('Fuzzed', server.url);
    ({ groupId } = await device.client.createGroup());
    const { noteId } = await device.client.writeNote(groupId, { title: 'seed', body: 'a note to mutate' });
    const envelope = await device.session.api.notes.get.query({ groupId, noteId });
    seedNoteId = noteId;
    const token = device.session.token;
    const json: Array<[string, string]> = [['content-type', 'application/json']];
    const auth: Array<[string, string]> = [['authorization', `Bearer ${token}`]];
    const host: Array<[string, string]> = [['host', 'localhost'], ['connection', 'close']];
    const q = (input: unknown) => `?input=${encodeURIComponent(JSON.stringify(input))}`;
    seeds = [
      { method: 'GET', path: '/trpc/meta.version', headers: host, body: Buffer.alloc(0) },
      { method: 'GET', path: '/health', headers: host, body: Buffer.alloc(0) },
      { method: 'POST', path: '/trpc/auth.challenge', headers: [...host, ...json], body: Buffer.from('') },
      { method: 'GET', path: '/trpc/groups.mine', headers: [...host, ...auth], body: Buffer.alloc(0) },
      { method: 'GET', path: `/trpc/notes.list${q({ groupId })}`, headers: [...host, ...auth], body: Buffer.alloc(0) },
      { method: 'GET', path: `/trpc/notes.get${q({ groupId, noteId })}`, headers: [...host, ...auth], body: Buffer.alloc(0) },
      { method: 'GET', path: `/trpc/identities.get${q({ fingerprint: device.fingerprint })}`, headers: [...host, ...auth], body: Buffer.alloc(0) },
      { method: 'GET', path: `/trpc/boxes.mine${q({ groupId })}`, headers: [...host, ...auth], body: Buffer.alloc(0) },
      { method: 'GET', path: `/trpc/groups.log${q({ groupId })}`, headers: [...host, ...auth], body: Buffer.alloc(0) },
      {
        method: 'GET',
        path: `/trpc/meta.version,notes.list,groups.mine?batch=1&input=${encodeURIComponent(JSON.stringify({ 1: { groupId } }))}`,
        headers: [...host, ...auth],
        body: Buffer.alloc(0),
      },
      { method: 'POST', path: '/trpc/notes.put', headers: [...host, ...json, ...auth], body: Buffer.from(JSON.stringify({ envelope: { ...envelope, version: envelope.version + 1 } })) },
      { method: 'POST', path: '/trpc/mailbox.request', headers: [...host, ...json, ...auth], body: Buffer.from(JSON.stringify({ groupId })) },
      { method: 'POST', path: '/trpc/auth.login', headers: [...host, ...json], body: Buffer.from(JSON.stringify({ challengeId: 'x', bundle: device.identity.bundle, sig: 'y' })) },
      { method: 'POST', path: '/trpc/boxes.post', headers: [...host, ...json, ...auth], body: Buffer.from(JSON.stringify({ groupId, boxes: [] })) },
      { method: 'POST', path: '/trpc/auth.challenge,meta.version?batch=1', headers: [...host, ...json], body: Buffer.from('{}') },
    ];
  });

  afterAll(async () => {
    await server?.close();
  });

  it(`answers ${COUNT} random and mutated requests without a 5xx, each non-2xx in the error shape, and keeps serving`, { timeout: 120_000 }, async () => {
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const int = (n: number) => Math.floor(random() * n);
    const procedures = ['meta.version', 'auth.challenge', 'auth.login', 'auth.logout', 'notes.put', 'notes.get', 'notes.list', 'groups.mine', 'groups.log', 'groups.append', 'groups.create', 'boxes.mine', 'boxes.post', 'invites.lookup', 'mailbox.pending', 'mailbox.request', 'identities.get', 'people.get', 'people.ofDevice', 'people.append', 'links.offer', 'links.find', 'nope.nope', 'notes', '', '__proto__.constructor', 'toString'];
    const junkJson = ['null', 'true', '[]', '{}', '"x"', '1e309', '-0', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', '[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]', `{"a":"${'\\u0000'.repeat(10)}"}`, '{"groupId":12345}', '{"0":{"groupId":null}}', `{"envelope":{"body":"${'A'.repeat(2000)}"}}`, '{', '{"a":', '\u00ff\u00fe'];

    const edgeField = (r: Req) => {
      const [procedure, field] = pick([['notes.get', 'noteId'], ['notes.get', 'version'], ['notes.list', 'since'], ['notes.list', 'limit'], ['groups.log', 'fromSeq'], ['groups.log', 'limit'], ['boxes.mine', 'generation'], ['identities.get', 'fingerprint']] as const);
      const value = pick<unknown>([2 ** 31, 2 ** 31 - 1, 2 ** 53 - 1, -(2 ** 31) - 1, 1.5, '\u0000', 'A'.repeat(21) + '\u0000', '\ud800', 'A'.repeat(3000)]);
      r.path = `/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ groupId, ...(procedure === 'notes.get' ? { noteId: seedNoteId } : {}), [field]: value }))}`;
    };
    const mutators: Array<(req: Req) => void> = [
      (r) => (r.method = pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'HEAD', 'PROPFIND', 'MKCOL', 'get', 'P0ST', 'SEARCH'])),
      (r) => (r.path = `/trpc/${pick(procedures)}${random() < 0.5 ? '' : `?input=${encodeURIComponent(pick(junkJson))}`}`),
      (r) => (r.path = `/trpc/${Array.from({ length: 1 + int(MAX_BATCH_CALLS + 6) }, () => pick(procedures)).join(',')}?batch=${pick(['1', '0', 'true', ''])}${random() < 0.5 ? `&input=${encodeURIComponent(pick(junkJson))}` : ''}`),
      (r) => (r.path = pick(['/', '/trpc', '/trpc/', '/trpc//', '/trpc/a/b', '/health/', '/HEALTH', '//health', '/trpc/%zz', '/trpc/%00', '/trpc/%E0%A4%A', `/trpc/${'x'.repeat(250 + int(20))}`, '*', 'http://evil.example/trpc/meta.version', '/../etc/passwd', '/trpc/meta.version#frag', '/trpc/meta.version?input=%', '/trpc/meta.version?input=%7B'])),
      (r) => (r.path += `${r.path.includes('?') ? '&' : '?'}${pick(['batch=1', 'input=', 'input=null', 'input=%7B%7D', 'x=1', 'batch=1&batch=0'])}`),
      (r) => (r.headers = r.headers.filter(([k]) => k !== 'content-type').concat([['content-type', pick(['text/plain', 'application/xml', 'application/json; charset=latin1', 'APPLICATION/JSON', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/x-www-form-urlencoded', '', 'application/json, text/plain', 'application/jsonl'])]])),
      (r) => (r.headers = r.headers.filter(([k]) => k !== 'content-type')),
      (r) => (r.headers = r.headers.filter(([k]) => k !== 'authorization').concat([['authorization', pick(['Bearer ', 'Bearer x', `Bearer ${'A'.repeat(43)}`, 'Basic dXNlcjpwYXNz', 'Bearer ' + 'é'.repeat(10), 'bearer ' + 'A'.repeat(43)])]])),
      (r) => (r.headers = r.headers.filter(([k]) => k !== 'host')),
      (r) => r.headers.push([pick(['x-junk', 'accept', 'trpc-accept', 'expect', 'content-encoding', 'x-forwarded-for', 'cookie']), pick(['application/jsonl', '100-continue', 'gzip', 'nonsense', '1.2.3.4', 'a'.repeat(200)])]),
      (r) => r.headers.push(['x-big', 'b'.repeat(int(24 * 1024))]),
      (r) => (r.body = Buffer.from(pick(junkJson))),
      (r) => (r.body = Buffer.alloc(int(512), int(256))),
      (r) => {
        if (r.body.length === 0) return;
        const copy = Buffer.from(r.body);
        for (let i = 0; i < 1 + int(4); i++) copy[int(copy.length)] = int(256);
        r.body = copy;
      },
      (r) => (r.body = r.body.subarray(0, int(r.body.length + 1))),
      (r) => {
        r.rawLength = true;
        r.headers.push(['content-length', String(pick([r.body.length + 1 + int(50), Math.max(0, r.body.length - 1 - int(5)), -1, 1e12]))]);
      },
      (r) => {
        r.rawLength = true;
        r.headers.push(['transfer-encoding', 'chunked']);
        r.body = Buffer.from(pick([`${r.body.length.toString(16)}\r\n${r.body.toString()}\r\n0\r\n\r\n`, 'zz\r\nxx\r\n0\r\n\r\n', '5\r\nab\r\n', '0\r\n\r\n']));
      },
      (r) => r.headers.push(['content-length', String(r.body.length)], ['content-length', String(r.body.length + 3)]),
      (r) => (r.body = Buffer.from(JSON.stringify({ envelope: { body: 'A'.repeat(64 * 1024 + int(300 * 1024)) } }))),
      // Weighted (four entries): a well-formed call whose one field is at or past what the stores hold (INTEGER, NUL in TEXT).
      ...Array.from({ length: 4 }, () => edgeField),
    ];

    const requests: Req[] = [];
    for (let i = 0; i < COUNT; i++) {
      const seed = pick(seeds);
      const req: Req = { method: seed.method, path: seed.path, headers: [...seed.headers], body: Buffer.from(seed.body) };
      // A few wholly random requests, the rest one to three mutations of a valid one.
      if (random() < 0.05) {
        requests.push({ method: 'GET', path: '/', headers: [], body: Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256))) });
        continue;
      }
      for (let m = 0; m < 1 + int(3); m++) pick(mutators)(req);
      requests.push(req);
    }

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < requests.length; i += PARALLEL) {
      const slice = requests.slice(i, i + PARALLEL);
      const answers: RawAnswer[] = await Promise.all(
        slice.map((req) => {
          // A bare random request is not HTTP: send it as bytes.
          const bytes = req.headers.length === 0 && req.method === 'GET' && req.path === '/' ? req.body : serialise(req);
          return exchange(server.url, bytes, { timeoutMs: 5000 });
        }),
      );
      answers.forEach((answer, j) => {
        const req = slice[j]!;
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const where = `seed ${SEED}, request ${i + j}: ${describeReq(req)} → ${answer.status} ${answer.text.slice(0, 300)}`;
        if (answer.status === 0) failures.push(`no answer — ${where}`);
        else if (answer.status >= 500) failures.push(`a ${answer.status} — ${where}`);
        else if (answer.status >= 400) {
          const problem = errorShapeProblem(answer.status, answer.body, { method: req.method });
          if (problem) failures.push(`${problem} — ${where}`);
        }
      });
    }
    expect(failures.slice(0, 5), `${failures.length} of ${requests.length} answers broke the contract; statuses ${JSON.stringify([...statuses])}`).toEqual([]);
    if (process.env.CONCLAVE_FUZZ_VERBOSE) console.log(JSON.stringify([...statuses].sort((a, b) => a[0] - b[0])));
    // The run reached more than one kind of answer.
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThan(5);

    // Still up, and still serving a real client.
    const health = await exchange(server.url, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(health.status).toBe(200);
    const { noteId } = await device.client.writeNote(groupId, { title: 'after the fuzz', body: 'still here' });
    expect((await device.client.readNote(groupId, noteId)).title).toBe('after the fuzz');
    expect(server.logs()).not.toMatch(/"stack"/);
  });
});

/**
 * Field values at and past the edges of what the stores hold (PostgreSQL INTEGER, NUL
 * bytes in TEXT), sent to every procedure that takes a number or an id, with a real
 * session and with a made-up 43-character token, on both stores, with and without the
 * hot path. The member check reads the note `notes.get` names before the input's schema
 * runs, so an unchecked value there once reached PostgreSQL (22003, 22021) as a 500.
 */
describe.each(STORE_KINDS.flatMap((kind) => [true, false].map((hot) => [kind, hot] as const)))('edge values in inputs answer 4xx in the error shape (%s, hot path %s)', (kind, hot) => {
  let server: TestServer;
  let device: Device;
  let groupId: GroupId;
  let noteId: string;

  beforeAll(async () => {
    server = await startServer(kind, { config: { rateLimitPerMinute: 1_000_000 }, hotPath: hot });
    device = await newDevice('Edges', server.url);
    ({ groupId } = await device.client.createGroup());
    ({ noteId } = await device.client.writeNote(groupId, { title: 'edge', body: 'values' }));
  });

  afterAll(async () => {
    await server?.close();
  });

  it('never answers 5xx to out-of-range numbers or NUL bytes', { timeout: 60_000 }, async () => {
    const numbers = [2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53 - 1, -1, -(2 ** 31) - 1, 0, 1.5];
    const strings = ['\u0000', 'A'.repeat(21) + '\u0000', '\ud800', 'A'.repeat(5000)];
    const inputs: Array<[string, Record<string, unknown>]> = [];
    for (const n of numbers) {
      inputs.push(['notes.get', { groupId, noteId, version: n }]);
      inputs.push(['notes.list', { groupId, since: n }]);
      inputs.push(['notes.list', { groupId, limit: n }]);
      inputs.push(['groups.log', { groupId, fromSeq: n }]);
      inputs.push(['groups.log', { groupId, limit: n }]);
      inputs.push(['boxes.mine', { groupId, generation: n }]);
    }
    for (const s of strings) {
      inputs.push(['notes.get', { groupId, noteId: s }]);
      inputs.push(['notes.get', { groupId, noteId: s, version: 1 }]);
      inputs.push(['notes.list', { groupId: s }]);
      inputs.push(['identities.get', { fingerprint: s }]);
    }
    const tokens = [device.session.token, 'A'.repeat(43)];
    const failures: string[] = [];
    for (const token of tokens) {
      for (const [procedure, input] of inputs) {
        const path = `/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`;
        const answer = await exchange(server.url, requestText('GET', path, { headers: { authorization: `Bearer ${token}` } }));
        const where = `${procedure} ${JSON.stringify(input).slice(0, 120)} (${token === device.session.token ? 'signed in' : 'made-up token'}) → ${answer.status} ${answer.text.slice(0, 200)}`;
        if (answer.status === 0 || answer.status >= 500) failures.push(where);
        else if (answer.status >= 400) {
          const problem = errorShapeProblem(answer.status, answer.body);
          if (problem) failures.push(`${problem} — ${where}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(server.logs()).not.toMatch(/"level":50/);
  });
});
