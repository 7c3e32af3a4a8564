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

  it('reads the live-stream limits and heartbeat, with their defaults', () => {
    expect(loadConfig({})).toMatchObject({ liveStreamsPerSession: 4, liveSocketsPerIp: 64, livePingMs: 30_000, livePongWaitMs: 10_000 });
    const config = loadConfig({ CONCLAVE_LIVE_STREAMS_PER_SESSION: '2', CONCLAVE_LIVE_SOCKETS_PER_IP: '500', CONCLAVE_LIVE_PING_MS: '15000', CONCLAVE_LIVE_PONG_WAIT_MS: '5000' });
    expect(config).toMatchObject({ liveStreamsPerSession: 2, liveSocketsPerIp: 500, livePingMs: 15_000, livePongWaitMs: 5_000 });
    expect(() => loadConfig({ CONCLAVE_LIVE_STREAMS_PER_SESSION: '0' })).toThrow(/liveStreamsPerSession/);
    expect(loadConfig({}).liveIdleSocketMs).toBe(30_000);
    expect(loadConfig({ CONCLAVE_LIVE_IDLE_SOCKET_MS: '5000' }).liveIdleSocketMs).toBe(5000);
  });

  it('refuses a malformed value with the variable named', () => {
    expect(() => loadConfig({ CONCLAVE_PORT: 'eighty' })).toThrow(/port/);
    expect(() => loadConfig({ DATABASE_URL: 'not a url' })).toThrow(/databaseUrl/);
  });

  it('reads REDIS_URL, the Redis key prefix, the metrics listener and the trusted proxies; unset means none', () => {
    const none = loadConfig({});
    expect(none).toMatchObject({ redisPrefix: 'conclave:', metricsHost: '127.0.0.1' });
    expect(none.redisUrl).toBeUndefined();
    expect(none.metricsPort).toBeUndefined();
    expect(none.trustProxy).toBeUndefined();
    const config = loadConfig({ REDIS_URL: 'redis://:pw@10.0.0.5:6379/2', CONCLAVE_REDIS_PREFIX: 'team-a:', CONCLAVE_METRICS_PORT: '9187', CONCLAVE_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,loopback' });
    expect(config).toMatchObject({ redisUrl: 'redis://:pw@10.0.0.5:6379/2', redisPrefix: 'team-a:', metricsPort: 9187, trustProxy: ['10.0.0.0/8', '127.0.0.1', 'loopback'] });
    expect(loadConfig({ REDIS_URL: '' }).redisUrl).toBeUndefined();
    expect(() => loadConfig({ REDIS_URL: 'http://10.0.0.5' })).toThrow(/redisUrl/);
    expect(() => loadConfig({ CONCLAVE_REDIS_PREFIX: 'a b' })).toThrow(/redisPrefix/);
    expect(() => loadConfig({ CONCLAVE_TRUST_PROXY: '10.0.0.0/33' })).toThrow(/trustProxy/);
    expect(() => loadConfig({ CONCLAVE_TRUST_PROXY: 'everyone' })).toThrow(/trustProxy/);
    expect(() => loadConfig({ CONCLAVE_METRICS_PORT: 'x' })).toThrow(/metricsPort/);
    expect(() => loadConfig({ CONCLAVE_PORT: '8787', CONCLAVE_METRICS_PORT: '8787' })).toThrow(/metricsPort: must differ from the API port/);
    expect(loadConfig({ CONCLAVE_PORT: '0', CONCLAVE_METRICS_PORT: '0' }).metricsPort).toBe(0);
  });
});
