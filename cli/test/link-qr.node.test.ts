/**
 * The QR code `conclave devices link` draws on the terminal (half blocks, no colour
 * escapes, which the output would strip) is a real QR code of the payload: drawn as the
 * terminal shows it (blocks light, on a dark background) it decodes with jsQR, the
 * decoder the extension scans with.
 */
import jsQR from 'jsqr';
import { expect, test } from 'vitest';
import { terminalQr } from '../src/commands/device-link.ts';
import { safeText } from '../src/output.ts';

/** The drawn lines as pixels: each character is one module wide and two tall; blocks are light. */
function pixels(drawn: string, scale = 4): { data: Uint8ClampedArray; width: number; height: number } {
  const rows: boolean[][] = [];
  for (const line of drawn.split('\n')) {
    const chars = [...line];
    rows.push(chars.map((c) => c === '█' || c === '▀'));
    rows.push(chars.map((c) => c === '█' || c === '▄'));
  }
  const width = Math.max(...rows.map((r) => r.length)) * scale;
  const height = rows.length * scale;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const light = rows[Math.floor(y / scale)]![Math.floor(x / scale)] ?? false;
      data.fill(light ? 255 : 0, (y * width + x) * 4, (y * width + x) * 4 + 3);
      data[(y * width + x) * 4 + 3] = 255;
    }
  }
  return { data, width, height };
}

test('the terminal QR code decodes to the link payload and has no control characters', async () => {
  const payload = 'conclave:v3:link:eyJkZXZpY2UiOiJ4eXoyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MjM0NTY3Iiwic2VjcmV0IjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSJ9';
  const drawn = await terminalQr(payload);
  expect(drawn).not.toBeNull();
  expect(safeText(drawn!)).toBe(drawn);
  const { data, width, height } = pixels(drawn!);
  expect(jsQR(data, width, height)?.data).toBe(payload);
});
