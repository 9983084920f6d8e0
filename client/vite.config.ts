import adapter from '@sveltejs/adapter-node';
import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [
    sveltekit({
      // CLIENT_OUT_DIR lets the e2e tests build a private copy without touching the build/ that
      // `npm start` may be serving.
      adapter: adapter({ out: process.env.CLIENT_OUT_DIR || 'build', precompress: true }),
      // Strict CSP: everything from our own origin only. SvelteKit adds a nonce (dynamic pages)
      // or hash (prerendered) for the inline bootstrap script it writes.
      csp: {
        mode: 'auto',
        directives: {
          'default-src': ['self'],
          'script-src': ['self'],
          // One exception: SvelteKit's own route announcer (an aria-live region it renders) has a
          // fixed inline style attribute; allow exactly that attribute value by its hash. The e2e
          // tests fail on any CSP violation, so a SvelteKit upgrade that changes it is caught.
          'style-src': ['self', 'unsafe-hashes', 'sha256-S8qMpvofolR8Mpjy4kQvEm7m1q8clzU4dfDH0AmvZjo='],
          'img-src': ['self'],
          'font-src': ['self'],
          'connect-src': ['self'],
          'manifest-src': ['self'],
          'object-src': ['none'],
          'base-uri': ['none'],
          'form-action': ['self'],
          'frame-ancestors': ['none'],
        },
      },
    }),
  ],
  server: { host: '127.0.0.1' },
});
