import type { Handle } from '@sveltejs/kit/hooks';

/**
 * Security headers for every page (the CSP itself comes from the csp option in vite.config.ts).
 * strict-origin-when-cross-origin keeps a real Origin on our same-origin vote POSTs, which the
 * API's cross-site check reads; `no-referrer` would turn it into "null".
 */
export const handle: Handle = async ({ event, resolve }) => {
  const response = await resolve(event);
  const h = response.headers;
  h.set('referrer-policy', 'strict-origin-when-cross-origin');
  h.set('x-content-type-options', 'nosniff');
  h.set('cross-origin-opener-policy', 'same-origin');
  h.set('cross-origin-resource-policy', 'same-origin');
  h.set('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()');
  if (!h.has('cache-control')) h.set('cache-control', 'no-store');
  return response;
};
