/**
 * Keeps a storage API session alive for one device (DESIGN §7: sessions are
 * short-lived). Knowing the server's address, it signs in again shortly before the
 * session ends, and once more when the server says it has ended (its clock is the one
 * that counts). Without the address it only carries the session it was given.
 */
import type { DeviceIdentity } from '../crypto/identity.ts';
import { signIn, type ApiClient, type ApiSession } from './api-session.ts';
import { ApiCallError } from './errors.ts';

/** A session this close to its end is renewed before the next operation. */
const RENEW_BEFORE_MS = 60_000;

export class SessionKeeper {
  private renewing: Promise<void> | null = null;

  constructor(
    private session: ApiSession,
    private readonly identity: DeviceIdentity,
    private readonly baseUrl: string | undefined,
    private readonly now: () => number,
  ) {}

  get api(): ApiClient {
    return this.session.api;
  }

  /**
   * Runs `operation` with a session that has not ended. It runs a second time after
   * an UNAUTHORIZED answer, so it must be safe to repeat (a refused call changed nothing).
   */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (!this.baseUrl) return operation();
    if (this.session.expiresAt - this.now() < RENEW_BEFORE_MS) await this.renew();
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof ApiCallError && error.is('UNAUTHORIZED'))) throw error;
      await this.renew();
      return operation();
    }
  }

  /** The session token, renewed first when it ends within a minute (only with the server address: without it, the token as given). */
  async freshToken(): Promise<string> {
    if (this.baseUrl && this.session.expiresAt - this.now() < RENEW_BEFORE_MS) await this.renew();
    return this.session.token;
  }

  /** Signs in again (concurrent callers share one sign-in). */
  renew(): Promise<void> {
    if (!this.baseUrl) return Promise.reject(new Error('cannot sign in again without the storage API address'));
    this.renewing ??= signIn(this.baseUrl, this.identity)
      .then((session) => {
        this.session = session;
      })
      .finally(() => {
        this.renewing = null;
      });
    return this.renewing;
  }
}

/** Runs operations one after another per key (a group's record is read-modify-write). */
export class KeyedQueue<K> {
  private readonly tails = new Map<K, Promise<unknown>>();

  run<T>(key: K, operation: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(operation, operation);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
