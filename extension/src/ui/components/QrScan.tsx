/**
 * Reads a QR code: from an image file (any page), or from the camera (only where
 * `camera` is set: an extension tab — popups and side panels cannot ask for it).
 * The decoder (`jsqr`) is loaded on first use, so pages that never scan never pay for it.
 * The camera is stopped as soon as a code is read, when the person stops it, and when
 * the component goes away. Every failure says what to do instead ("use an image").
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { Options as JsQrOptions, QRCode } from 'jsqr';

type JsQr = (data: Uint8ClampedArray, width: number, height: number, options?: JsQrOptions) => QRCode | null;

let decoder: Promise<JsQr> | null = null;
function loadDecoder(): Promise<JsQr> {
  decoder ??= import('jsqr').then((module) => module.default as unknown as JsQr);
  return decoder;
}

/** What went wrong and what to do next, in the words shown to the person. */
export interface ScanProblem {
  message: string;
  action: string;
}

const USE_IMAGE = 'Use an image instead: take a photo or screenshot of their code and choose it with "Choose an image".';

/** Turns a `getUserMedia` failure (a DOMException name) into words. */
export function cameraProblem(error: unknown): ScanProblem {
  const name = typeof error === 'object' && error !== null && 'name' in error ? String((error as { name: unknown }).name) : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return {
        message: 'Permission to use the camera was refused.',
        action: `${USE_IMAGE} To use the camera later, allow it for Conclave in the browser's site settings and try again.`,
      };
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return { message: 'No camera was found on this device.', action: USE_IMAGE };
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return {
        message: 'The camera could not be started; another app may be using it.',
        action: `Close the other app and try again, or ${USE_IMAGE.charAt(0).toLowerCase()}${USE_IMAGE.slice(1)}`,
      };
    case 'NoCamera':
      return { message: 'This page cannot use a camera.', action: USE_IMAGE };
    default:
      return { message: `The camera could not be started${name ? ` (${name})` : ''}.`, action: USE_IMAGE };
  }
}

/** Largest side, in pixels, an image is scaled down to before decoding (speed; codes stay legible). */
const MAX_IMAGE_SIDE = 1600;
/** The camera loop decodes at most this often. */
const FRAME_INTERVAL_MS = 200;

function pixels(source: CanvasImageSource, width: number, height: number, canvas: HTMLCanvasElement): ImageData {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('no 2d canvas');
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}

/** Decodes the first QR code in an image file; null when there is none. */
export async function decodeImageFile(file: Blob): Promise<string | null> {
  const [jsQR, bitmap] = await Promise.all([loadDecoder(), createImageBitmap(file)]);
  try {
    const scale = Math.min(1, MAX_IMAGE_SIDE / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const image = pixels(bitmap, width, height, document.createElement('canvas'));
    return jsQR(image.data, width, height, { inversionAttempts: 'attemptBoth' })?.data ?? null;
  } finally {
    bitmap.close();
  }
}

export interface QrScanProps {
  /** Called once with the decoded text of a code. */
  onResult: (text: string) => void;
  /** Offer the camera (extension tabs only). */
  camera?: boolean;
  /** What is being scanned, in words: "their code". */
  what?: string;
  /** Called with status words worth announcing ("Camera on…"). */
  onStatus?: (text: string) => void;
}

type Mode = 'idle' | 'starting' | 'camera' | 'reading-image';

export function QrScan({ onResult, camera = false, what = 'their code', onStatus }: QrScanProps) {
  const [mode, setMode] = useState<Mode>('idle');
  const [problem, setProblem] = useState<ScanProblem | null>(null);
  const videoRef = useRef<HTMLVideoElement>(null);
  const session = useRef<{ stream: MediaStream | null; frame: number; cancelled: boolean } | null>(null);
  const onResultRef = useRef(onResult);
  onResultRef.current = onResult;
  const fileId = useId();
  const hintId = useId();

  const stopCamera = () => {
    const current = session.current;
    session.current = null;
    if (!current) return;
    current.cancelled = true;
    cancelAnimationFrame(current.frame);
    current.stream?.getTracks().forEach((track) => track.stop());
    if (videoRef.current) videoRef.current.srcObject = null;
  };

  // The camera never outlives the component.
  useEffect(() => stopCamera, []);

  const startCamera = async () => {
    setProblem(null);
    if (!navigator.mediaDevices?.getUserMedia) {
      setProblem(cameraProblem({ name: 'NoCamera' }));
      return;
    }
    stopCamera();
    const current: { stream: MediaStream | null; frame: number; cancelled: boolean } = { stream: null, frame: 0, cancelled: false };
    session.current = current;
    setMode('starting');
    try {
      const [stream, jsQR] = await Promise.all([
        navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment', width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false }),
        loadDecoder(),
      ]);
      if (current.cancelled) {
        stream.getTracks().forEach((track) => track.stop());
        return;
      }
      current.stream = stream;
      const video = videoRef.current;
      if (!video) throw new Error('no video element');
      video.srcObject = stream;
      await video.play();
      setMode('camera');
      onStatus?.(`Camera on. Hold ${what} in front of the camera.`);
      const canvas = document.createElement('canvas');
      let last = 0;
      const tick = (now: number) => {
        if (current.cancelled) return;
        if (now - last >= FRAME_INTERVAL_MS && video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && video.videoWidth > 0) {
          last = now;
          const scale = Math.min(1, 960 / Math.max(video.videoWidth, video.videoHeight));
          const width = Math.round(video.videoWidth * scale);
          const height = Math.round(video.videoHeight * scale);
          const found = jsQR(pixels(video, width, height, canvas).data, width, height, { inversionAttempts: 'dontInvert' });
          if (found && found.data) {
            stopCamera();
            setMode('idle');
            onResultRef.current(found.data);
            return;
          }
        }
        current.frame = requestAnimationFrame(tick);
      };
      current.frame = requestAnimationFrame(tick);
    } catch (error) {
      if (current.cancelled) return;
      stopCamera();
      setMode('idle');
      setProblem(cameraProblem(error));
    }
  };

  const onStop = () => {
    stopCamera();
    setMode('idle');
    onStatus?.('Camera off.');
  };

  const onFile = async (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    stopCamera();
    setProblem(null);
    setMode('reading-image');
    try {
      const text = await decodeImageFile(file);
      if (text) onResultRef.current(text);
      else
        setProblem({
          message: `No QR code was found in "${file.name}".`,
          action: `Choose a sharper picture with all of ${what} in view, or compare the safety numbers instead.`,
        });
    } catch {
      setProblem({ message: `"${file.name}" could not be opened as an image.`, action: 'Choose a PNG, JPEG or WebP picture of the code.' });
    } finally {
      setMode('idle');
      // Choosing the same file again fires `change` again.
      input.value = '';
    }
  };

  const cameraOn = mode === 'camera' || mode === 'starting';
  return (
    <div class="qr-scan" aria-busy={mode === 'starting' || mode === 'reading-image'}>
      <div class="row">
        {camera &&
          (cameraOn ? (
            <button type="button" onClick={onStop}>
              <span aria-hidden="true">■</span> Stop the camera
            </button>
          ) : (
            <button type="button" class="primary" onClick={() => void startCamera()}>
              Use the camera
            </button>
          ))}
        <div class="qr-file">
          {/* The input comes first so CSS can draw its focus ring on the visible label. */}
          <input id={fileId} class="visually-hidden" type="file" accept="image/*" aria-describedby={hintId} onChange={(event) => void onFile(event)} />
          <label for={fileId} class="button">
            Choose an image
          </label>
        </div>
      </div>
      <p id={hintId} class="hint">
        {camera ? `Point the camera at ${what}, or choose a photo or screenshot of it.` : `Choose a photo or screenshot of ${what}.`}
      </p>
      {mode === 'starting' && <p class="muted">Starting the camera… your browser may ask for permission.</p>}
      {mode === 'reading-image' && <p class="muted">Reading the image…</p>}
      {camera && (
        <video
          ref={videoRef}
          class="qr-video"
          hidden={!cameraOn}
          muted
          playsInline
          aria-label={`Camera view: hold ${what} in front of the camera`}
        />
      )}
      {problem && (
        <div class="notice notice-error" role="alert">
          <p class="notice-title">
            <span aria-hidden="true">⚠</span> {problem.message}
          </p>
          <p>
            <strong>What to do: </strong>
            {problem.action}
          </p>
        </div>
      )}
    </div>
  );
}
