/**
 * The hot path (storage-api/src/trpc/hot-path.ts) answers exactly as tRPC's fetch
 * adapter does: the same requests, good and bad, single and batched, are sent over real
 * HTTP to two servers on fresh stores of the same kind, one with the hot path and one
 * without (`build(config, { hotPath: false })`), after the same setup; every answer's
 * status, content-type, vary header and body must be equal. The hot server's answers
 * to the requests it takes carry a Content-Length (the adapter streams its Response,
 * chunked), which shows they did not go through the adapter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn } from '@conclave/shared/client';
import { createGroup, generateIdentity, generationKeys, importAeadKey, newNoteId, noteVersionHash, sealNote, type DeviceIdentity } from '@conclave/shared/crypto';
import type { NoteEnvelope } from '@conclave/shared/protocol';
import { startServer, STORE_KINDS, type TestServer } from './support/server.ts';

interface Sent {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  /** Whose session token goes in Authorization, if anyone's; 'forged' is well formed and unknown. */
  as?: 'alice' | 'bob' | 'forged';
  headers?: Record<string, string>;
  body?: string;
  /** The hot server takes this request itself (else it passes it on to tRPC). */
  hot: boolean;
}

interface Answer {
  status: number;
  contentType: string | null;
  vary: string | null;
  chunked: boolean;
  body: string;
}

const q = (input: unknown) => encodeURIComponent(JSON.stringify(input));

describe.each(STORE_KINDS)('the hot path answers as tRPC does (%s)', (kind) => {
  let hot: TestServer;
  let plain: TestServer;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  const tokens = new Map<TestServer, Record<string, string>>();
  let requests: Sent[] = [];

  async function send(server: TestServer, request: Sent): Promise<Answer> {
    const headers: Record<string, string> = { ...request.headers };
    if (request.as) headers.authorization = `Bearer ${request.as === 'forged' ? 'A'.repeat(43) : tokens.get(server)![request.as]}`;
    const response = await fetch(`${server.url}${request.path}`, { method: request.method, headers, ...(request.body !== undefined ? { body: request.body } : {}) });
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      vary: response.headers.get('vary'),
      chunked: response.headers.get('transfer-encoding') === 'chunked',
      body: await response.text(),
    };
  }

  beforeAll(async () => {
    const config = { logLevel: 'silent' as const, noteMaxBytes: 1024 };
    [hot, plain] = await Promise.all([startServer(kind, { config }), startServer(kind, { config, hotPath: false })]);
    alice = await generateIdentity();
    bob = await generateIdentity();
    const group = await createGroup(alice);
    const groupId = group.state.groupId;
    for (const server of [hot, plain]) {
      const a = await signIn(server.url, alice);
      const b = await signIn(server.url, bob);
      tokens.set(server, { alice: a.token, bob: b.token });
      await a.api.groups.create.mutate({ entries: group.entries, boxes: group.boxes });
    }
    const noteKey = await importAeadKey((await generationKeys(group.seed, groupId, 0)).noteKey);
    const noteId = newNoteId();
    const address = { groupId, noteId, generation: 0 };
    const v1 = await sealNote(alice, { ...address, version: 1 }, noteKey, { title: 't', body: 'first' });
    const v2 = await sealNote(alice, { ...address, version: 2 }, noteKey, { title: 't', body: 'second' }, { prev: await noteVersionHash(v1) });
    const v2WrongPrev = await sealNote(alice, { ...address, version: 2 }, noteKey, { title: 't', body: 'x' }, { prev: await noteVersionHash(v2) });
    const other = await sealNote(alice, { groupId, noteId: newNoteId(), version: 1, generation: 0 }, noteKey, { title: 't', body: 'other' });
    const third = await sealNote(alice, { groupId, noteId: newNoteId(), version: 1, generation: 0 }, noteKey, { title: 't', body: 'third' });
    const oldGeneration = await sealNote(alice, { groupId, noteId: newNoteId(), version: 1, generation: 1 }, noteKey, { title: 't', body: 'gen' });
    const bySomeoneElse = await sealNote(bob, { groupId, noteId: newNoteId(), version: 1, generation: 0 }, noteKey, { title: 't', body: 'bob' });
    const tooLarge = await sealNote(alice, { groupId, noteId: newNoteId(), version: 1, generation: 0 }, noteKey, { title: 't', body: 'y'.repeat(2000) });
    const flipped = (e: NoteEnvelope): NoteEnvelope => ({ ...e, sig: `${e.sig[0] === 'A' ? 'B' : 'A'}${e.sig.slice(1)}` });
    const put = (envelope: unknown) => JSON.stringify({ envelope });
    const json = { 'content-type': 'application/json' };
    const get = (input: unknown) => `/trpc/notes.get?input=${q(input)}`;
    const batchGet = (...inputs: unknown[]) => `/trpc/${inputs.map(() => 'notes.get').join(',')}?batch=1&input=${q(Object.fromEntries(inputs.map((v, i) => [i, v])))}`;
    const batchPut = (...envelopes: unknown[]) => JSON.stringify(Object.fromEntries(envelopes.map((envelope, i) => [i, { envelope }])));
    const batchPutPath = (n: number) => `/trpc/${Array.from({ length: n }, () => 'notes.put').join(',')}?batch=1`;

    requests = [
      { name: 'put v1', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put(v1), hot: true },
      { name: 'put v1 again: CONFLICT', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put(v1), hot: true },
      { name: 'put, flipped signature', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put(flipped(v2)), hot: true },
      { name: 'put, wrong prev', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put(v2WrongPrev), hot: true },
      { name: 'put, another generation', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put(oldGeneration), hot: true },
      { name: 'put by a non-member', method: 'POST', path: '/trpc/notes.put', as: 'bob', headers: json, body: put(bySomeoneElse), hot: true },
      { name: 'put of another author', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put(bySomeoneElse), hot: true },
      { name: 'put over the note limit', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put(tooLarge), hot: true },
      { name: 'put without a session', method: 'POST', path: '/trpc/notes.put', headers: json, body: put(v2), hot: true },
      { name: 'put with a forged session', method: 'POST', path: '/trpc/notes.put', as: 'forged', headers: json, body: put(v2), hot: true },
      { name: 'put without an envelope', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: '{}', hot: true },
      { name: 'put of a malformed envelope', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put({ ...v2, body: '!!' }), hot: true },
      { name: 'put with a charset', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: { 'content-type': 'application/json; charset=utf-8' }, body: put(v2), hot: true },
      { name: 'batch put: one new, one conflict', method: 'POST', path: batchPutPath(2), as: 'alice', headers: json, body: batchPut(other, v1), hot: true },
      { name: 'batch put: one new', method: 'POST', path: batchPutPath(1), as: 'alice', headers: json, body: batchPut(third), hot: true },
      { name: 'get', method: 'GET', path: get({ groupId, noteId }), as: 'alice', hot: true },
      { name: 'get version 1', method: 'GET', path: get({ groupId, noteId, version: 1 }), as: 'alice', hot: true },
      { name: 'get a version not stored', method: 'GET', path: get({ groupId, noteId, version: 9 }), as: 'alice', hot: true },
      { name: 'get a note not stored', method: 'GET', path: get({ groupId, noteId: newNoteId() }), as: 'alice', hot: true },
      { name: 'get by a non-member', method: 'GET', path: get({ groupId, noteId }), as: 'bob', hot: true },
      { name: 'get without a session', method: 'GET', path: get({ groupId, noteId }), hot: true },
      { name: 'get with a forged session', method: 'GET', path: get({ groupId, noteId }), as: 'forged', hot: true },
      { name: 'get of an unknown group', method: 'GET', path: get({ groupId: 'A'.repeat(22), noteId }), as: 'alice', hot: true },
      { name: 'get without a group id', method: 'GET', path: get({ noteId }), as: 'alice', hot: true },
      { name: 'get of a malformed note id', method: 'GET', path: get({ groupId, noteId: 'x' }), as: 'alice', hot: true },
      { name: 'get of version 0', method: 'GET', path: get({ groupId, noteId, version: 0 }), as: 'alice', hot: true },
      { name: 'get with a string input', method: 'GET', path: get('hello'), as: 'alice', hot: true },
      { name: 'batch get: found, missing, malformed', method: 'GET', path: batchGet({ groupId, noteId }, { groupId, noteId: newNoteId() }, { groupId }), as: 'alice', hot: true },
      { name: 'batch get with a gap', method: 'GET', path: `/trpc/notes.get,notes.get?batch=1&input=${q({ 1: { groupId, noteId } })}`, as: 'alice', hot: true },
      // Passed on to tRPC: these must be answered the same too.
      { name: 'get without input', method: 'GET', path: '/trpc/notes.get', as: 'alice', hot: false },
      { name: 'get with input that is not JSON', method: 'GET', path: '/trpc/notes.get?input=%7Bnope', as: 'alice', hot: false },
      { name: 'get as a POST', method: 'POST', path: '/trpc/notes.get', as: 'alice', headers: json, body: JSON.stringify({ groupId, noteId }), hot: false },
      { name: 'put as a GET', method: 'GET', path: `/trpc/notes.put?input=${q({ envelope: v2 })}`, as: 'alice', hot: false },
      { name: 'put with a body that is not JSON', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: '{nope', hot: false },
      { name: 'put as text/plain', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: { 'content-type': 'text/plain' }, body: put(v2), hot: false },
      { name: 'batch get with an input that is not an object', method: 'GET', path: `/trpc/notes.get?batch=1&input=${q([1])}`, as: 'alice', hot: false },
      { name: 'a mixed batch', method: 'GET', path: `/trpc/notes.get,notes.list?batch=1&input=${q({ 0: { groupId, noteId }, 1: { groupId, since: 0 } })}`, as: 'alice', hot: false },
      { name: 'get with another query parameter', method: 'GET', path: `${get({ groupId, noteId })}&x=1`, as: 'alice', hot: false },
      { name: 'get asking for a stream', method: 'GET', path: batchGet({ groupId, noteId }), as: 'alice', headers: { 'trpc-accept': 'application/jsonl' }, hot: false },
      { name: 'put v2 at last', method: 'POST', path: '/trpc/notes.put', as: 'alice', headers: json, body: put(v2), hot: true },
      { name: 'get after v2', method: 'GET', path: get({ groupId, noteId }), as: 'alice', hot: true },
    ];
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled([hot?.close(), plain?.close()]);
  });

  it('gives the same status, content-type, vary and body for every request, and takes the hot ones itself', async () => {
    const answers: Array<{ name: string; hot: Answer; plain: Answer }> = [];
    for (const request of requests) answers.push({ name: request.name, hot: await send(hot, request), plain: await send(plain, request) });
    for (const [i, { name, hot: h, plain: p }] of answers.entries()) {
      expect({ name, status: h.status, contentType: h.contentType, vary: h.vary, body: h.body }).toEqual({ name, status: p.status, contentType: p.contentType, vary: p.vary, body: p.body });
      // The plain server streams every tRPC answer; the hot one streams only those it passed on.
      expect({ name, chunked: p.chunked }).toEqual({ name, chunked: true });
      expect({ name, chunked: h.chunked }).toEqual({ name, chunked: !requests[i]!.hot });
    }
    // Good and bad both: the script covers successes and each kind of refusal.
    const statuses = new Set(answers.map((a) => a.plain.status));
    for (const status of [200, 207, 400, 401, 403, 404, 405, 409, 413, 415, 422]) expect(statuses).toContain(status);
  });
});
