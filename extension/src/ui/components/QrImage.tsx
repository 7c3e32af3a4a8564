/**
 * Text drawn as a QR code: an inline SVG built from the `qrcode` package's module
 * matrix (no canvas, no data URL, no innerHTML), with alt text as its accessible name.
 * Dark modules are black on a white quiet zone whatever the theme, so cameras read it.
 */
import { create } from 'qrcode';
import { useMemo } from 'preact/hooks';

/** One SVG path ("M x y h1 v1 h-1 z" per dark module, runs merged) for a module matrix. */
export function qrPath(size: number, isDark: (row: number, col: number) => boolean, margin: number): string {
  let path = '';
  for (let row = 0; row < size; row++) {
    let col = 0;
    while (col < size) {
      if (!isDark(row, col)) {
        col++;
        continue;
      }
      const start = col;
      while (col < size && isDark(row, col)) col++;
      path += `M${start + margin} ${row + margin}h${col - start}v1h${start - col}z`;
    }
  }
  return path;
}

export interface QrImageProps {
  text: string;
  /** What the code is for, read by screen readers in place of the image. */
  alt: string;
  /** Rendered width and height in CSS pixels (default 224). */
  size?: number;
  /** Error correction: M by default (cameras forgive smudges; codes stay small). */
  level?: 'L' | 'M' | 'Q' | 'H';
}

export function QrImage({ text, alt, size = 224, level = 'M' }: QrImageProps) {
  const drawn = useMemo(() => {
    try {
      const qr = create(text, { errorCorrectionLevel: level });
      const n = qr.modules.size;
      const margin = 4;
      return { box: n + margin * 2, path: qrPath(n, (r, c) => qr.modules.get(r, c) !== 0, margin), error: null };
    } catch (error) {
      return { box: 0, path: '', error: error instanceof Error ? error.message : String(error) };
    }
  }, [text, level]);

  if (drawn.error !== null) {
    return (
      <p class="notice notice-error" role="alert">
        This code is too long to draw as a QR code ({drawn.error}). Use the text instead.
      </p>
    );
  }
  return (
    <svg
      class="qr-image"
      role="img"
      aria-label={alt}
      width={size}
      height={size}
      viewBox={`0 0 ${drawn.box} ${drawn.box}`}
      shape-rendering="crispEdges"
      xmlns="http://www.w3.org/2000/svg"
    >
      <title>{alt}</title>
      <rect width={drawn.box} height={drawn.box} fill="#ffffff" />
      <path d={drawn.path} fill="#000000" />
    </svg>
  );
}
