/**
 * `build(config)` assembles the storage API without listening: the store (SQLite by
 * default, PostgreSQL with DATABASE_URL), Fastify with body limits, rate limits and a
 * redacting logger, `GET /health`, and tRPC under `/trpc`. `server.ts` listens.
 */
import rateLimit from '@fastify/rate-limit';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import { appRouter, type AppRouter } from './routers/index.ts';
import { GroupStates } from './services/group-states.ts';
import { createStore } from './store/index.ts';
import type { Store } from './store/types.ts';
import { contextFactory, type Deps } from './trpc/context.ts';

const PURGE_INTERVAL_MS = 5 * 60 * 1000;

export interface BuildOptions {
  /** A store made by the caller (tests share one); otherwise one is made from `config`. */
  store?: Store;
  now?: () => number;
  /** Where request logs go (tests capture them to scan for secrets). */
  logStream?: NodeJS.WritableStream;
}

export interface App {
  fastify: FastifyInstance;
  deps: Deps;
  close(): Promise<void>;
}

export async function build(config: Config, options: BuildOptions = {}): Promise<App> {
  const store = options.store ?? (await createStore(config));
  await store.migrate();
  const now = options.now ?? Date.now;
  const deps: Deps = { config, store, groups: new GroupStates(store, now), now };

  const fastify = Fastify({
    bodyLimit: config.bodyLimit,
    // tRPC puts every procedure name of a batch in the path (`/trpc/notes.get,notes.get,…`).
    routerOptions: { maxParamLength: 8192 },
    logger: {
      level: config.logLevel,
      ...(options.logStream ? { stream: options.logStream } : {}),
      // Never log tokens, bodies or query inputs: a request line is method and path only.
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      serializers: {
        req: (req) => ({ method: req.method, path: req.url.split('?')[0], ip: req.ip }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
    },
  });

  await fastify.register(rateLimit, {
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    errorResponseBuilder: (_req, context) => ({
      statusCode: 429,
      error: { code: 'TOO_MANY_REQUESTS', message: `too many requests: try again in ${Math.ceil(context.ttl / 1000)} s` },
    }),
  });

  fastify.get('/health', async () => ({ ok: true, store: store.kind }));

  await fastify.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: appRouter,
      createContext: contextFactory(deps),
      onError({ error, path }) {
        if (error.code === 'INTERNAL_SERVER_ERROR') fastify.log.error({ path, err: { name: error.name, code: error.code } }, 'procedure failed');
      },
    } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
  });

  // Expired challenges and sessions are deleted every few minutes (anyone may ask for a
  // challenge, so that table must not grow without bound).
  const purge = setInterval(() => {
    store.purgeExpired(now()).catch((err: unknown) => fastify.log.warn({ err: { name: (err as Error)?.name } }, 'purging expired sessions failed'));
  }, PURGE_INTERVAL_MS);
  purge.unref();

  return {
    fastify,
    deps,
    async close() {
      clearInterval(purge);
      await fastify.close();
      await store.close();
    },
  };
}
