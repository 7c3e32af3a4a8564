/**
 * Real storage API processes for the multi-process benchmark: `storage-api/src/server.ts`
 * exactly as an operator runs it (docs/OPERATIONS.md "Scaling past one machine"), with
 * the environment of one node, on a free loopback port. Standard output (the request
 * log at `info`, JSON) goes to /dev/null so the benchmark does not pay to read it; the
 * process is ready once `/health` answers. It exits when the benchmark goes away (its
 * standard input closes).
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GUARD = fileURLToPath(new URL('../../storage-api/test/support/guarded-server.ts', import.meta.url));
const START_DEADLINE_MS = 30_000;

export interface ApiNode {
  url: string;
  close(): Promise<void>;
}

/** A port free on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts one API process with `env` (DATABASE_URL, REDIS_URL, …) added to a minimal environment. */
export async function startApiNode(env: Record<string, string>): Promise<ApiNode> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', GUARD], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      USER: process.env.USER ?? '',
      CONCLAVE_HOST: '127.0.0.1',
      CONCLAVE_PORT: String(port),
      CONCLAVE_LOG_LEVEL: 'info',
      CONCLAVE_LOG_FORMAT: 'json',
      // The guard's own lifetime: long enough for any run.
      CONCLAVE_TEST_LIFETIME_MS: String(60 * 60 * 1000),
      ...env,
    },
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the API process exited (${child.exitCode}) before answering /health`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the API process did not answer /health within ${START_DEADLINE_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
