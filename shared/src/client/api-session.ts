/**
 * A signed-in connection to the storage API (DESIGN §7): challenge → Ed25519 signature
 * by the device key → short-lived session token, then a typed tRPC client that sends
 * it. Runs in the extension and in Node tests alike (fetch only).
 */
import { createTRPCClient, httpBatchLink, TRPCClientError, type TRPCClient } from '@trpc/client';
import type { AppRouter } from '@conclave/storage-api/router';
import { signLabelled, type DeviceIdentity } from '../crypto/identity.ts';
import { LABELS } from '../crypto/labels.ts';
import type { ApiErrorCode, ApiErrorData } from '../protocol/api.ts';

export type ApiClient = TRPCClient<AppRouter>;

export interface ApiSession {
  api: ApiClient;
  token: string;
  expiresAt: number;
  /** Signs out: the token stops working at once. */
  logout(): Promise<void>;
}

/** Ten names of up to 24 characters and their commas fit in 256. */
const MAX_BATCH_ITEMS = 10;
const MAX_URL_LENGTH = 8000;

function client(baseUrl: string, token?: () => string | undefined): ApiClient {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${baseUrl.replace(/\/$/, '')}/trpc`,
        // A batch puts every procedure name in the path and every query input in the
        // URL: the server caps the path parameter at 256 characters (Fastify
        // maxParamLength) and Node the request head at 16 KiB, so keep batches small.
        maxItems: MAX_BATCH_ITEMS,
        maxURLLength: MAX_URL_LENGTH,
        headers: () => {
          const t = token?.();
          return t ? { authorization: `Bearer ${t}` } : {};
        },
      }),
    ],
  });
}

/** Signs in as `identity` and returns a client that carries the session token. */
export async function signIn(baseUrl: string, identity: DeviceIdentity): Promise<ApiSession> {
  const anonymous = client(baseUrl);
  const { challengeId, challenge } = await anonymous.auth.challenge.mutate();
  const sig = await signLabelled(identity, LABELS.apiChallenge, { challenge, fingerprint: identity.fingerprint });
  const { token, expiresAt } = await anonymous.auth.login.mutate({ challengeId, bundle: identity.bundle, sig });
  const api = client(baseUrl, () => token);
  return { api, token, expiresAt, logout: () => api.auth.logout.mutate().then(() => undefined) };
}

/** The Conclave error code of a failed call, if the server gave one. */
export function apiErrorOf(error: unknown): ApiErrorData | null {
  if (!(error instanceof TRPCClientError)) return null;
  const data = (error.data as { conclave?: ApiErrorData } | undefined)?.conclave;
  if (data) return data;
  // Errors answered before tRPC (rate limit, body limit) carry only an HTTP status.
  const status = (error.data as { httpStatus?: number } | undefined)?.httpStatus ?? (error.meta?.response as { status?: number } | undefined)?.status;
  const byStatus: Record<number, ApiErrorCode> = { 413: 'PAYLOAD_TOO_LARGE', 429: 'TOO_MANY_REQUESTS' };
  return status && byStatus[status] ? { code: byStatus[status] } : null;
}

/**
 * Whether a call failed because the storage API could not be reached at all (no
 * answer, refused, DNS): not an answer the server gave. Clients say "offline" then.
 */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof TRPCClientError) {
    if (apiErrorOf(error)) return false;
    const status = (error.data as { httpStatus?: number } | undefined)?.httpStatus ?? (error.meta?.response as { status?: number } | undefined)?.status;
    return status === undefined;
  }
  return error instanceof TypeError && /fetch|network|connect/i.test(error.message);
}
