import QRCode from 'qrcode';
import { PUBLIC_URL } from '$app/env/private';
import { loadResults } from '#lib/server/api.ts';
import type { PageServerLoad } from './$types';

/** The QR code is drawn on the server, so the presenter page ships no QR library to the browser. */
export const load: PageServerLoad = async ({ url }) => {
  const voterUrl = PUBLIC_URL ?? `${url.origin}/`;
  const [initial, qrSvg] = await Promise.all([
    loadResults(url.origin),
    QRCode.toString(voterUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 2, color: { dark: '#000000', light: '#ffffff' } }),
  ]);
  return { initial, voterUrl, qrSvg };
};
