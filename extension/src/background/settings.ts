/**
 * Where this device's servers are: the storage API and the signaling server, and the
 * ICE servers for peer connections. Kept in the `settings` table; the defaults point
 * at servers on this machine.
 */
import type { ConclaveDb } from '../db/schema.ts';
import type { Settings } from '../messages/views.ts';

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  apiUrl: 'http://127.0.0.1:8787',
  signalingUrl: 'http://127.0.0.1:9000/peerjs',
  iceServers: [],
});

export async function loadSettings(db: ConclaveDb): Promise<Settings> {
  const row = await db.settings.get('settings');
  if (!row) return { ...DEFAULT_SETTINGS, iceServers: [] };
  const { id: _id, ...settings } = row;
  return settings;
}

export async function saveSettings(db: ConclaveDb, settings: Settings): Promise<Settings> {
  const clean: Settings = {
    apiUrl: settings.apiUrl.replace(/\/+$/, ''),
    signalingUrl: settings.signalingUrl,
    iceServers: settings.iceServers.map((s) => ({ urls: s.urls, ...(s.username !== undefined ? { username: s.username } : {}), ...(s.credential !== undefined ? { credential: s.credential } : {}) })),
  };
  await db.settings.put({ id: 'settings', ...clean });
  return clean;
}
