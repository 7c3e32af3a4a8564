/**
 * Reads the text of a QR code in a picture (a screenshot or photo of an invite),
 * with `jsqr` loaded only when a picture is chosen.
 */

/** Pictures are scaled down to this many pixels on their longer side before decoding. */
const MAX_SIDE = 1600;

/** @returns the QR code's text, or null when no QR code could be read in the picture. */
export async function decodeQrImage(file: Blob): Promise<string | null> {
  const [mod, bitmap] = await Promise.all([import('jsqr'), createImageBitmap(file)]);
  // A CommonJS bundle: depending on interop the function is `default` or `default.default`.
  const loaded = mod.default as typeof mod.default | { default: typeof mod.default };
  const jsQR = typeof loaded === 'function' ? loaded : loaded.default;
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('This browser cannot read pictures here.');
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const pixels = context.getImageData(0, 0, width, height);
  return jsQR(pixels.data, width, height, { inversionAttempts: 'attemptBoth' })?.data ?? null;
}
