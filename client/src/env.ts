import { defineEnvVars } from '@sveltejs/kit/env';

/** An optional absolute http(s) URL; a bad value stops the app at start-up with a clear message. */
function optionalUrl(name: string) {
  return (value: string | undefined): string | undefined => {
    if (value === undefined || value.trim() === '') return undefined;
    let url: URL;
    try {
      url = new URL(value.trim());
    } catch {
      throw new Error(`${name} must be an absolute URL such as http://server:3000, got "${value}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL, got "${value}"`);
    return url.href.replace(/\/$/, '');
  };
}

export const variables = defineEnvVars({
  API_URL: {
    description: 'Base URL the client server uses to read /api/results for the first paint. Default: http://127.0.0.1:$PORT (or the request origin when PORT is 0/unset and the client is mounted in the API server).',
    schema: optionalUrl('API_URL'),
  },
  PUBLIC_URL: {
    description: 'Public URL of the voter page, encoded in the presenter QR code. Default: the page origin.',
    schema: optionalUrl('PUBLIC_URL'),
  },
  PORT: {
    description: 'Port this process listens on (read by adapter-node as well).',
    schema: (value: string | undefined): number | undefined => {
      if (value === undefined || value === '') return undefined;
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be an integer 0-65535, got "${value}"`);
      return port;
    },
  },
});
