// The in-app QR scanner: the camera (rear one preferred), frames decoded by the vendored jsQR,
// the first LIEN link found parsed by payload.js and handed to a callback, then the camera off.
//
//   const scanner = await startScanner(video, {onLink, onRefused, now});
//   scanner.stop();
//
// onLink(link, text)       — a payment request or an account link (payload.js's parseLink), once;
//                            the camera is already stopped when it runs.
// onRefused(error, text)   — a QR code that is no valid LIEN link (error.code from payload.js:
//                            "unknown_kind", "expired", "bad_account"...); scanning goes on, and
//                            the same text is not reported twice in a row.
// now()                    — the clock for expiry (ms since the epoch), Date.now by default.
//
// startScanner rejects with a ScanError whose .code the page translates: "insecure_context"
// (WebCrypto and the camera need https or localhost), "not_supported" (no getUserMedia),
// "permission_denied", "no_camera", "camera_busy" (used by another app), "camera_failed".
// The browser has no BarcodeDetector everywhere (Chromium on Linux has none): jsQR decodes.

import { PayloadError, parseLink } from "./payload.js";

export const SCAN_ERROR_CODES = Object.freeze([
  "insecure_context", "not_supported", "permission_denied", "no_camera", "camera_busy",
  "camera_failed",
]);

// Frames are scaled down to at most this width before decoding: enough for a version-10 code
// filling a third of the frame, and ~4x cheaper than a 1280 px frame.
export const frame_width_max = 640;

export class ScanError extends Error {
  constructor(code, detail) {
    super(`${code}: ${detail}`);
    this.name = "ScanError";
    this.code = code;
  }
}

const CAMERA_ERRORS = {
  NotAllowedError: "permission_denied",
  SecurityError: "permission_denied",
  NotFoundError: "no_camera",
  OverconstrainedError: "no_camera",
  NotReadableError: "camera_busy",
  AbortError: "camera_busy",
};

let decoderLoaded = null;

// jsQR is a UMD bundle: imported for its side effect, it sets self.jsQR. Loaded on first use
// only, so it is not part of the wallet's first load.
function loadDecoder() {
  decoderLoaded ??= import("../vendor/jsqr/jsQR.js").then(() => self.jsQR);
  return decoderLoaded;
}

async function openCamera() {
  if (!globalThis.isSecureContext) throw new ScanError("insecure_context", "https or localhost only");
  if (!navigator.mediaDevices?.getUserMedia) throw new ScanError("not_supported", "no getUserMedia");
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 } },
    });
  } catch (error) {
    throw new ScanError(CAMERA_ERRORS[error?.name] ?? "camera_failed", String(error?.message ?? error));
  }
}

export async function startScanner(video, { onLink, onRefused = () => {}, now = Date.now } = {}) {
  const decode = await loadDecoder();
  const stream = await openCamera();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let stopped = false;
  let lastRefused = null;

  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };

  const nextFrame = (callback) => (video.requestVideoFrameCallback
    ? video.requestVideoFrameCallback(callback) : requestAnimationFrame(callback));

  const onFrame = () => {
    if (stopped) return;
    const text = readFrame();
    if (text !== null) {
      try {
        const link = parseLink(text, { nowMs: now() });
        stop();
        onLink(link, text);
        return;
      } catch (error) {
        if (!(error instanceof PayloadError)) throw error;
        if (text !== lastRefused) onRefused(error, text);
        lastRefused = text;
      }
    }
    nextFrame(onFrame);
  };

  function readFrame() {
    if (!video.videoWidth) return null;
    const scale = Math.min(1, frame_width_max / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    const code = decode(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
    return code ? code.data : null;
  }

  video.muted = true;
  video.playsInline = true;
  video.setAttribute("playsinline", "");
  video.srcObject = stream;
  try {
    await video.play();
  } catch (error) {
    stop();
    throw new ScanError("camera_failed", String(error?.message ?? error));
  }
  nextFrame(onFrame);
  return { stop, get stopped() { return stopped; } };
}
