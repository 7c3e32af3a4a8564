import preact from '@preact/preset-vite';
import { defineConfig } from 'wxt';
import { extensionVite } from './scripts/extension-vite.ts';

// The extension's sources live in extension/; the build goes to .output/<browser>-mv<n>
// (CONCLAVE_OUT_DIR moves it, so two checkouts' test runs on one machine do not share a build).
export default defineConfig({
  srcDir: 'extension',
  outDir: process.env.CONCLAVE_OUT_DIR || '.output',
  // No auto-imports: every module says where its names come from.
  imports: false,
  vite: () => ({
    plugins: [preact()],
    ...extensionVite(),
  }),
  hooks: {
    // Firefox's background page runs PeerJS itself, so its build has no offscreen document:
    // leave the entrypoint out rather than have WXT warn on every build that it skipped it.
    'entrypoints:found': (wxt, infos) => {
      if (wxt.config.browser !== 'firefox') return;
      const at = infos.findIndex((info) => info.name === 'offscreen');
      if (at >= 0) infos.splice(at, 1);
    },
  },
  manifest: ({ browser }) => ({
    name: 'Conclave',
    description: 'End-to-end encrypted notes shared by a small group of trusted people.',
    permissions: ['storage', 'unlimitedStorage', 'alarms', ...(browser === 'firefox' ? [] : ['offscreen', 'sidePanel'])],
    // The default servers run on this machine; others are granted from the options page.
    host_permissions: ['http://127.0.0.1/*', 'http://localhost/*'],
    optional_host_permissions: ['https://*/*', 'http://*/*'],
    action: { default_title: 'Conclave' },
    // Firefox's build is MV2, where optional origins are listed in optional_permissions
    // (WXT drops optional_host_permissions there): without them, Firefox refuses the
    // options page's request for a server elsewhere ("Not saved: permission refused").
    ...(browser === 'firefox' ? { optional_permissions: ['https://*/*', 'http://*/*'] } : {}),
    ...(browser === 'firefox'
      ? { sidebar_action: { default_panel: 'sidepanel.html', default_title: 'Conclave notes' }, browser_specific_settings: { gecko: { id: 'conclave@example.org', strict_min_version: '128.0' } } }
      : {}),
  }),
});

