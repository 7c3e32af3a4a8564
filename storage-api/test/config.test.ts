import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

describe('configuration from the environment', () => {
  it('defaults to loopback, port 8787 and SQLite in .data', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8787, dataDir: '.data', noteMaxBytes: 1024 * 1024 });
    expect(config.databaseUrl).toBeUndefined();
  });

  it('treats an empty variable as unset, so CONCLAVE_HOST= never means every interface', () => {
    const config = loadConfig({ CONCLAVE_HOST: '', CONCLAVE_PORT: ' ', DATABASE_URL: '' });
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8787);
    expect(config.databaseUrl).toBeUndefined();
  });

  it('refuses a malformed value with the variable named', () => {
    expect(() => loadConfig({ CONCLAVE_PORT: 'eighty' })).toThrow(/port/);
    expect(() => loadConfig({ DATABASE_URL: 'not a url' })).toThrow(/databaseUrl/);
  });
});
