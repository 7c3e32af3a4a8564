/**
 * A QR code of an invite link, drawn as SVG by the `qrcode` package (loaded only
 * when an invite is shown, to keep the popup's first load small).
 */
import { useEffect, useState } from 'preact/hooks';

export function InviteQr({ text }: { text: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    import('qrcode')
      .then((mod) => {
        // A CommonJS package: its functions may sit on `default`.
        const qrcode = (mod.default as typeof mod.default | undefined) ?? mod;
        return qrcode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      })
      .then((svg) => {
        if (!svg.startsWith('<svg')) throw new Error('not an SVG');
        if (live) setSrc(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`);
      })
      .catch(() => {
        if (live) setFailed(true);
      });
    return () => {
      live = false;
    };
  }, [text]);
  if (failed) return <p class="hint">The QR code could not be drawn: send the link or the code instead.</p>;
  if (!src) return <p class="hint">Drawing the QR code…</p>;
  return <img class="qr" src={src} width={220} height={220} alt="QR code of the invite link. Send the link or the code to anyone who cannot scan it." />;
}
