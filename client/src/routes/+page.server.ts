import { loadResults } from '#lib/server/api.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ url }) => ({
  initial: await loadResults(url.origin),
});
