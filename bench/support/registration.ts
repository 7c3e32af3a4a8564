/**
 * One PeerJS registration over a raw WebSocket, as the signaling benches make them:
 * ok once the server's first frame is OPEN, else why not. Never rejects.
 */
import WebSocket from 'ws';

export type Attempt = { ok: true; ws: WebSocket } | { ok: false; why: string };

/** Opens one socket; ok once the first frame is OPEN. Never rejects. */
export function register(url: string): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    let done = false;
    const settle = (attempt: Attempt) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!attempt.ok) ws.terminate();
      resolve(attempt);
    };
    const timer = setTimeout(() => settle({ ok: false, why: 'no OPEN within 10 s' }), 10_000);
    ws.on('error', (e: Error & { code?: string }) => settle({ ok: false, why: `socket error ${e.code ?? e.message}` }));
    ws.on('unexpected-response', (req, res) => {
      settle({ ok: false, why: `HTTP ${res.statusCode}` });
      req.destroy();
    });
    ws.once('message', (data) => {
      const type = (JSON.parse(data.toString()) as { type?: string }).type;
      settle(type === 'OPEN' ? { ok: true, ws } : { ok: false, why: `got ${type}` });
    });
    ws.on('close', () => settle({ ok: false, why: 'closed' }));
  });
}
