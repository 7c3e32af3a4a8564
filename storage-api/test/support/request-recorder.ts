/**
 * Which HTTP requests a test server receives while some work runs, each as the tRPC
 * procedures it carried (an httpBatchLink batch is one request naming several), for
 * tests that count round trips.
 */
import type { TestServer } from './server.ts';

export interface RequestRecorder {
  /** Runs `work` and returns its result with the requests received meanwhile, in order. */
  during<T>(work: () => Promise<T>): Promise<{ result: T; requests: string[][] }>;
}

/** How many calls of `procedure` the recorded requests carried. */
export function callsOf(requests: string[][], procedure: string): number {
  return requests.flat().filter((p) => p === procedure).length;
}

export function recordRequests(server: TestServer): RequestRecorder {
  let recording: string[][] | null = null;
  server.app.fastify.server.on('request', (request: { url?: string }) => {
    recording?.push(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname.replace(/^\/trpc\//, '')).split(','));
  });
  return {
    async during(work) {
      const requests: string[][] = [];
      recording = requests;
      try {
        return { result: await work(), requests };
      } finally {
        recording = null;
      }
    },
  };
}
