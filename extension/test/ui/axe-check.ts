/**
 * axe-core on a rendered part of a page, in the extension-chromium project's real
 * Chromium: the violations of impact serious or critical, one line each (rule, then the
 * HTML of each element), so a test can expect none. The e2e runs check whole screens
 * (e2e/support/axe.ts); this checks states they do not reach (a field's error, a refusal).
 */
import axe from 'axe-core';

export async function seriousViolations(root: Element): Promise<string[]> {
  const result = await axe.run(root, { resultTypes: ['violations'], rules: { 'target-size': { enabled: true } } });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.html).join(' ')}`);
}
