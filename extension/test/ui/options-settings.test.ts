import { describe, expect, it } from 'vitest';
import { fieldsFrom, isLoopback, originsToRequest, parseSettings } from '../../src/ui/options/settings-form.ts';

const good = { apiUrl: 'http://127.0.0.1:8787/', signalingUrl: 'http://127.0.0.1:9000', iceServers: '[]' };

describe('parseSettings', () => {
  it('reads valid settings, without trailing slashes', () => {
    expect(parseSettings(good)).toEqual({ ok: true, settings: { apiUrl: 'http://127.0.0.1:8787', signalingUrl: 'http://127.0.0.1:9000', iceServers: [] } });
  });

  it('puts each error next to its field', () => {
    const result = parseSettings({ apiUrl: 'not a url', signalingUrl: 'ftp://x.org', iceServers: '[{"urls": 5}]' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.apiUrl).toMatch(/not a web address/);
    expect(result.errors.signalingUrl).toMatch(/https:\/\//);
    expect(result.errors.iceServers).toMatch(/Server 1 needs "urls"/);
  });

  it('refuses plain http to another machine', () => {
    const result = parseSettings({ ...good, apiUrl: 'http://notes.example.org' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.apiUrl).toMatch(/https/);
  });

  it('checks ICE servers: JSON, schemes, TURN credentials, unknown keys', () => {
    const ice = (text: string) => {
      const result = parseSettings({ ...good, iceServers: text });
      return result.ok ? result.settings.iceServers : result.errors.iceServers;
    };
    expect(ice('[{"urls": "stun:stun.example.org:3478"}]')).toEqual([{ urls: 'stun:stun.example.org:3478' }]);
    expect(ice('[{"urls": ["turn:t.example.org"], "username": "u", "credential": "c"}]')).toEqual([{ urls: ['turn:t.example.org'], username: 'u', credential: 'c' }]);
    expect(ice('')).toEqual([]);
    expect(ice('{')).toMatch(/not valid JSON/);
    expect(ice('{"urls": "stun:x"}')).toMatch(/square brackets/);
    expect(ice('[{"urls": "http://x"}]')).toMatch(/stun:, turn: or turns:/);
    expect(ice('[{"urls": "turn:x"}]')).toMatch(/username/);
    expect(ice('[{"urls": "stun:x", "password": "p"}]')).toMatch(/"password" is not a setting/);
  });

  it('round-trips the saved settings through the form', () => {
    const settings = { apiUrl: 'https://a.example', signalingUrl: 'https://s.example', iceServers: [{ urls: 'stun:s.example' }] };
    expect(parseSettings(fieldsFrom(settings))).toEqual({ ok: true, settings });
  });
});

describe('host permissions', () => {
  it('knows this machine', () => {
    expect(isLoopback(new URL('http://localhost:1'))).toBe(true);
    expect(isLoopback(new URL('http://127.0.0.2'))).toBe(true);
    expect(isLoopback(new URL('http://[::1]:8080'))).toBe(true);
    expect(isLoopback(new URL('https://example.org'))).toBe(false);
  });

  it('asks only for origins the manifest does not grant, once each, any port', () => {
    expect(originsToRequest({ apiUrl: 'http://127.0.0.1:8787', signalingUrl: 'http://localhost:9000', iceServers: [] })).toEqual([]);
    expect(originsToRequest({ apiUrl: 'https://notes.example.org:8443', signalingUrl: 'https://notes.example.org', iceServers: [] })).toEqual([
      'https://notes.example.org/*',
    ]);
    expect(originsToRequest({ apiUrl: 'https://localhost:8787', signalingUrl: 'http://127.0.0.1', iceServers: [] })).toEqual(['https://localhost/*']);
  });
});
