/**
 * Presence (DESIGN §7, issue 4): which of a group's members have an open signaling
 * connection right now. The signaling server answers only that — it learns which ids
 * were asked about, and nothing of groups, names or keys.
 */
import { z } from 'zod';
import type { Fingerprint } from '../protocol/ids.ts';

/** The most ids one presence request may carry (the server's limit). */
export const PRESENCE_BATCH = 100;

const presenceAnswer = z.object({ online: z.array(z.string()).max(PRESENCE_BATCH) });

export class PresenceError extends Error {
  override readonly name = 'PresenceError';
}

/**
 * Asks the signaling server at `baseUrl` (e.g. `http://127.0.0.1:9000/peerjs`) which of
 * `ids` are online. Each id is asked about once, and only ids that were asked about are
 * believed, each at most once (a server that repeats an id gets no second attempt).
 * @throws {PresenceError} when the server cannot be reached or answers nonsense.
 */
export async function fetchPresence(baseUrl: string, ids: readonly Fingerprint[], fetchImpl: typeof fetch = fetch): Promise<Fingerprint[]> {
  const unique = [...new Set(ids)];
  const notYetOnline = new Set<string>(unique);
  const online: Fingerprint[] = [];
  for (let i = 0; i < unique.length; i += PRESENCE_BATCH) {
    const batch = unique.slice(i, i + PRESENCE_BATCH);
    const url = `${baseUrl.replace(/\/+$/, '')}/presence?ids=${batch.map(encodeURIComponent).join(',')}`;
    let response: Response;
    try {
      response = await fetchImpl(url);
    } catch (error) {
      throw new PresenceError(`the signaling server at ${baseUrl} cannot be reached (${(error as Error).message}): check its address in the options`);
    }
    if (!response.ok) throw new PresenceError(`the signaling server answered ${response.status} to a presence request`);
    const parsed = presenceAnswer.safeParse(await response.json().catch(() => null));
    if (!parsed.success) throw new PresenceError('the signaling server answered a presence request with something that is not a presence list');
    for (const id of parsed.data.online) {
      if (!notYetOnline.delete(id)) continue;
      online.push(id as Fingerprint);
    }
  }
  return online;
}
