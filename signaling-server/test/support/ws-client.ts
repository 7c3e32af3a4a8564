/** A raw WebSocket client speaking the PeerJS wire protocol, for signaling tests. */
import WebSocket from 'ws';

export interface PeerMessage {
  type: string;
  src?: string;
  dst?: string;
  payload?: unknown;
}

export type Connection =
  | { kind: 'open'; client: RawPeer }
  | { kind: 'refused'; status: number; body: string };

export class RawPeer {
  readonly received: PeerMessage[] = [];
  #waiters: Array<() => void> = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received.push(JSON.parse(data.toString()) as PeerMessage);
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }
  /** Resolves with the first received message (after index `from`) matching the predicate. */
  async next(predicate: (m: PeerMessage) => boolean, timeoutMs = 3000, from = 0): Promise<PeerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.slice(from).find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message; got ${JSON.stringify(this.received.map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** Opens `ws://…<wsPath>?key=peerjs&id=…&token=…`; resolves once OPEN arrives or the upgrade is refused. */
export function connectPeer(baseUrl: string, id: string, token: string, key = 'peerjs'): Promise<Connection> {
  const url = `${baseUrl}?key=${encodeURIComponent(key)}&id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, body }));
    });
    ws.on('error', (e) => reject(e));
    const client = new RawPeer(ws);
    ws.on('open', () => {
      client
        .next((m) => m.type === 'OPEN' || m.type === 'ERROR' || m.type === 'ID-TAKEN')
        .then((m) => (m.type === 'OPEN' ? resolve({ kind: 'open', client }) : reject(new Error(`got ${m.type}`))), reject);
    });
  });
}
