/**
 * Picks the event feed for the store: PostgreSQL's LISTEN/NOTIFY when the store is
 * PostgreSQL (any number of API processes), else the in-process feed (SQLite: one process).
 */
import type { PostgresStore } from '../store/postgres.ts';
import type { Store } from '../store/types.ts';
import { LocalFeed, type EventFeed } from './event-feed.ts';

export async function createFeed(store: Store, onTrouble: (what: string, error: unknown) => void): Promise<EventFeed> {
  if (store.kind !== 'postgres') return new LocalFeed();
  const { PgEventFeed } = await import('./pg-event-feed.ts');
  return new PgEventFeed(store as PostgresStore, { onTrouble });
}
