/** Entry point of the `conclave` command (placeholder until the CLI lands). */
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('conclave: not built yet\n');
  return 1;
}
