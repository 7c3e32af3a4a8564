// Reads `npm run bench`'s whole output on stdin and prints every target's verdict
// (the `VERDICT | …` lines of bench/support/harness.ts `verdict`) as one table, under
// the benchmark that printed it.
import { readFileSync } from 'node:fs';

const rows = [];
let bench = '';
for (const line of readFileSync(0, 'utf8').split('\n')) {
  const file = /^### (\S+)$/.exec(line);
  if (file) bench = file[1].replace(/^bench\//, '');
  if (!line.startsWith('VERDICT | ')) continue;
  const [, measure, figure, target, verdict] = line.split(' | ').map((cell) => cell.trim());
  rows.push([bench, measure, figure, target, verdict]);
}
if (rows.length === 0) {
  console.log('no verdicts were printed');
  process.exit(0);
}
const headers = ['bench', 'measure', 'figure', 'target', 'verdict'];
const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
const show = (cells) => cells.map((cell, c) => (cell ?? '').padEnd(widths[c])).join('  ').trimEnd();
console.log('\n=== every target, as measured in this run ===');
console.log(show(headers));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of rows) console.log(show(row));
const missed = rows.filter((row) => row[4] !== 'met').length;
console.log(`\n${rows.length - missed} of ${rows.length} targets met${missed ? `; ${missed} missed (each bench's own table says what the time is made of)` : ''}`);
