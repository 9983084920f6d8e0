import { apiBase, loadResults } from '#lib/server/results.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ url }) => ({
  initial: await loadResults(apiBase(url.origin)),
});
