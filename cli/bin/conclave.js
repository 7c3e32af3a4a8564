#!/usr/bin/env node
// The `conclave` command: loads TypeScript through tsx (the sources are the package)
// and runs the CLI with this process's arguments, streams and exit code.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
