// The import rules that keep the packages apart (run by `npm test` through
// scripts/test-all.sh, or alone with `npm run lint`). Only boundaries are checked
// here; formatting and type errors are tsc's and the reviewers' job.
//
// - Outside shared/, the protocol core is reached only through its package's subpath
//   exports (@conclave/shared/protocol, /crypto, /client, /p2p, /verify, /errors).
// - The servers see only @conclave/shared/verify: nothing that takes a secret.
// - The extension and the CLI reach the storage API only through the SDK's
//   GroupClient: no tRPC client, no session of their own.
// - Extension pages speak to the background only through messages/.
// - Inside shared/, protocol/ (wire formats) imports no cryptography or client code,
//   and crypto/ imports no client or p2p code.
import tseslint from 'typescript-eslint';

const intoSharedSource = {
  regex: '(^|/)shared/src/|^@conclave/shared$',
  message: 'Import the protocol core through its subpath exports: @conclave/shared/protocol, /crypto, /client, /p2p, /verify or /errors.',
};
const otherSharedThanVerify = {
  regex: '^@conclave/shared/(?!verify$)',
  message: 'A server imports the protocol core only through @conclave/shared/verify (wire formats and public verification).',
};
const directApi = [
  { name: '@trpc/client', message: 'Talk to the storage API through GroupClient (@conclave/shared/client), never a tRPC client of your own.' },
  { name: '@trpc/server', message: 'Client code does not import the server side.' },
  {
    name: '@conclave/shared/client',
    importNames: ['signIn', 'call', 'ApiClient', 'ApiSession', 'apiErrorOf'],
    message: 'These are the SDK’s own plumbing: call a GroupClient method instead (one session, one lock, one sync per action).',
  },
];
const serverCode = { group: ['**/storage-api/src/**', '**/signaling-server/src/**', '@conclave/storage-api/*', '@conclave/signaling-server/*'], message: 'Client code does not import the servers.' };
const pagesIntoBackground = {
  group: ['**/background/**', '**/db/**', '**/p2p/**'],
  message: 'Pages speak to the background only through messages/ (ask, the request and answer types, the view types).',
};

function restrict({ patterns = [], paths = [] }) {
  return { 'no-restricted-imports': ['error', { patterns, paths }] };
}

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.output/**', '.output-*/**', '.wxt/**', '.data/**', 'extension/test/platform/fixture/**', '**/*.d.ts'] },
  {
    files: ['**/*.{ts,tsx,js,mjs}'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 'latest', sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: restrict({ patterns: [intoSharedSource] }),
  },
  {
    files: ['storage-api/src/**', 'signaling-server/src/**'],
    rules: restrict({ patterns: [intoSharedSource, otherSharedThanVerify] }),
  },
  {
    files: ['extension/src/**', 'extension/entrypoints/**', 'cli/src/**'],
    rules: restrict({ patterns: [intoSharedSource, serverCode], paths: directApi }),
  },
  {
    files: ['extension/src/ui/**', 'extension/src/messages/**'],
    rules: restrict({ patterns: [intoSharedSource, serverCode, pagesIntoBackground], paths: directApi }),
  },
  {
    files: ['shared/src/protocol/**'],
    rules: restrict({ patterns: [{ group: ['../crypto/**', '../client/**', '../p2p/**'], message: 'Wire formats (protocol/) import no cryptography, client or p2p code.' }] }),
  },
  {
    files: ['shared/src/crypto/**'],
    rules: restrict({ patterns: [{ group: ['../client/**', '../p2p/**'], message: 'Cryptography (crypto/) imports no client or p2p code.' }] }),
  },
);
