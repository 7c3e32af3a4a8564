/**
 * Real storage API processes for the multi-process benchmark: `storage-api/src/server.ts`
 * exactly as an operator runs it (docs/OPERATIONS.md "Scaling past one machine"), with
 * the environment of one node, on a free loopback port. Standard output (the request
 * log at `info`, JSON) goes to /dev/null so the benchmark does not pay to read it; the
 * process is ready once `/health` answers. It exits when the benchmark goes away (its
 * standard input closes).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GUARD = fileURLToPath(new URL('../../storage-api/test/support/guarded-server.ts', import.meta.url));
const START_DEADLINE_MS = 30_000;

export interface ApiNode {
  url: string;
  /** CPU seconds (user + system) the process has used so far (Linux /proc; 0 elsewhere). */
  cpuSeconds(): number;
  close(): Promise<void>;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU seconds of process `pid` from /proc/<pid>/stat (utime + stime), 0 when unreadable. */
export function processCpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Busy and total CPU seconds of the whole machine so far (all cores, from /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const [, ...times] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const ticks = times.map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
  } catch {
    return { busy: 0, total: 0 };
  }
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
    cpuSeconds: () => processCpuSeconds(child.pid),
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
