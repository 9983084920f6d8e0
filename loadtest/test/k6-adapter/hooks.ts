/**
 * Module resolution for an adapter run: the k6 modules the scripts use resolve to the adapter's
 * stand-ins; any other k6 module, or a remote module, fails loudly instead of silently passing.
 */
import { registerHooks } from 'node:module';

const provided: Record<string, string> = {
  k6: './modules/k6.ts',
  'k6/http': './modules/http.ts',
  'k6/metrics': './modules/metrics.ts',
  'k6/execution': './modules/execution.ts',
  'k6/x/sse': './modules/sse.ts',
};

export function installHooks(): void {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const local = provided[specifier];
      if (local) return { url: new URL(local, import.meta.url).href, shortCircuit: true };
      if (specifier === 'k6' || specifier.startsWith('k6/')) {
        throw new Error(`k6 test adapter: the script imports ${specifier}, which the adapter does not provide (it provides ${Object.keys(provided).join(', ')})`);
      }
      if (/^https?:\/\//.test(specifier)) throw new Error(`k6 test adapter: remote module ${specifier} is not supported`);
      return nextResolve(specifier, context);
    },
  });
}
