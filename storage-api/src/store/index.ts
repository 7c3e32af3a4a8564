/**
 * Picks the store from the configuration: PostgreSQL when `DATABASE_URL` is set
 * (tables in `config.databaseSchema`), otherwise one SQLite file in `config.dataDir`.
 * The caller runs `migrate()` (`build()` does).
 */
import type { Config } from '../config.ts';
import type { Store } from './types.ts';

export type { Store } from './types.ts';

export async function createStore(config: Config): Promise<Store> {
  if (config.databaseUrl) {
    const { PostgresStore } = await import('./postgres.ts');
    return new PostgresStore({ connectionString: config.databaseUrl, schema: config.databaseSchema });
  }
  const { SqliteStore } = await import('./sqlite.ts');
  return new SqliteStore(config.dataDir);
}
