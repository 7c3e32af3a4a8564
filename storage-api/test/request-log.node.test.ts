/**
 * The request log a person reads (issue 14, friction 13): one line per answered request
 * — method, path without its query, status and time — as JSON for a collector, and as
 * one readable line in a terminal (pino-pretty).
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logStreamFor } from '../src/pretty-log.ts';
import { startServer, type TestServer } from './support/server.ts';

describe('request log', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer('sqlite');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('logs each request once, when answered, with its path but never its query', async () => {
    await fetch(`${server.url}/health`);
    await fetch(`${server.url}/trpc/no.such?input=${encodeURIComponent(JSON.stringify({ groupId: 'secret-looking-input' }))}`);
    const lines = server.logs().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = lines.filter((line) => line.msg === 'request');
    expect(requests.map((line) => (line.req as { path: string }).path)).toEqual(['/health', '/trpc/no.such']);
    expect(requests.map((line) => (line.res as { statusCode: number }).statusCode)).toEqual([200, 404]);
    for (const line of requests) expect(typeof line.ms).toBe('number');
    expect(lines.some((line) => line.msg === 'incoming request' || line.msg === 'request completed')).toBe(false);
    expect(server.logs()).not.toContain('secret-looking-input');
  });
});

describe('logStreamFor', () => {
  it('is JSON (no stream of its own) when asked, or when the output is not a terminal', () => {
    const terminal = Object.assign(new Writable({ write: (_chunk, _encoding, done) => done() }), { isTTY: true });
    expect(logStreamFor('json', terminal)).toBeUndefined();
    expect(logStreamFor('auto', new Writable())).toBeUndefined();
    expect(logStreamFor('auto', terminal)).toBeDefined();
  });

  it('writes a request as one readable line in a terminal', async () => {
    let text = '';
    const terminal = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    const stream = logStreamFor('pretty', terminal) as Writable;
    const line = { level: 30, time: Date.UTC(2026, 10, 29, 12, 0, 1), pid: 1, hostname: 'h', reqId: 'req-1', req: { method: 'POST', path: '/trpc/notes.put', ip: '127.0.0.1' }, res: { statusCode: 200 }, ms: 3.1, msg: 'request' };
    await new Promise<void>((resolve) => stream.write(`${JSON.stringify(line)}\n`, () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
    expect(text).toMatch(/INFO.*POST \/trpc\/notes\.put 200 3\.1 ms/);
    expect(text).not.toContain('hostname');
    expect(text.trim().split('\n')).toHaveLength(1);
  });
});
