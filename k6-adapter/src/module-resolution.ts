/**
 * Module resolution for an adapter run: the k6 modules the scripts use resolve to the adapter's
 * stand-ins; any other k6 module, or a remote module, fails loudly instead of silently passing.
 */
import { registerHooks } from 'node:module';

/** Each k6 module the adapter provides, and what it exports (the README lists the same). */
export const PROVIDED: Record<string, { file: string; exports: string[] }> = {
  k6: { file: './modules/k6.ts', exports: ['check', 'fail', 'sleep'] },
  'k6/http': { file: './modules/http.ts', exports: ['default', 'get', 'post', 'expectedStatuses'] },
  'k6/metrics': { file: './modules/metrics.ts', exports: ['Counter', 'Rate', 'Trend'] },
  'k6/execution': { file: './modules/execution.ts', exports: ['default'] },
  'k6/x/sse': { file: './modules/sse.ts', exports: ['default', 'open'] },
};

export function installModuleResolution(): void {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const local = PROVIDED[specifier];
      if (local) return { url: new URL(local.file, import.meta.url).href, shortCircuit: true };
      if (specifier === 'k6' || specifier.startsWith('k6/')) {
        throw new Error(`k6 test adapter: the script imports ${specifier}, which the adapter does not provide (it provides ${Object.keys(PROVIDED).join(', ')})`);
      }
      if (/^https?:\/\//.test(specifier)) throw new Error(`k6 test adapter: remote module ${specifier} is not supported`);
      return nextResolve(specifier, context);
    },
  });
}

/** Node's message for a missing named export, with what the adapter's module does export. */
export function explainImportError(err: unknown): string | undefined {
  const m = /The requested module '([^']+)' does not provide an export named '([^']+)'/.exec(String((err as Error)?.message ?? err));
  const provided = m && PROVIDED[m[1] as string];
  if (!m || !provided) return undefined;
  return `k6 test adapter: ${m[1]}'s ${m[2]} is not supported (${m[1]} provides ${provided.exports.join(', ')}); see k6-adapter/README.md`;
}
