/**
 * The simplest load balancer, for tests of several API processes: each HTTP request goes
 * to the next upstream in turn (A, B, A, B…) over a fresh connection, so consecutive
 * calls of one client land on different processes. It records which upstream answered
 * each request. WebSocket upgrades are not forwarded.
 *
 * A `Gate` shared by several balancers holds the requests it matches until `count` of
 * them have arrived, then lets them all go at once: two writes that passed their
 * clients' own checks then reach their processes together.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RoundRobin {
  url: string;
  /** The upstream index that served each request so far, in order. */
  served: number[];
  /** The path (without the query) of each request so far, in order. */
  paths: string[];
  close(): Promise<void>;
}

/** Holds matching requests until `count` have arrived; then each later batch of `count` likewise. */
export class Gate {
  private waiting: Array<() => void> = [];

  constructor(
    private readonly matches: (path: string) => boolean,
    private readonly count: number,
  ) {}

  pass(path: string): Promise<void> {
    if (!this.matches(path)) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length < this.count) return;
      for (const release of this.waiting.splice(0)) release();
    });
  }
}

export async function startRoundRobin(upstreams: string[], gate?: Gate): Promise<RoundRobin> {
  const served: number[] = [];
  const paths: string[] = [];
  let next = 0;
  const server = http.createServer(async (req, res) => {
    const index = next++ % upstreams.length;
    const path = (req.url ?? '/').split('?')[0]!;
    served.push(index);
    paths.push(path);
    if (gate) await gate.pass(path);
    const target = new URL(req.url ?? '/', upstreams[index]);
    const forward = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host, connection: 'close' }, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
