#!/usr/bin/env node
// The `conclave` command: loads TypeScript through tsx (the sources are the package)
// and runs the CLI with this process's arguments, streams and exit code. Once the
// command is done and its output flushed, the process exits: a native module (Node
// WebRTC after a live handover) must not keep it alive after its result.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
