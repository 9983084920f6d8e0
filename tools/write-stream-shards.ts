/**
 * `node tools/write-stream-shards.ts`: writes chart/files/stream-shards.json, the hash tags of the
 * stream shards for every STREAM_SHARDS from 1 to 64, as the services compute them
 * (service-kit/src/stream-shards.ts), so the chart (KEDA's triggers name each shard's stream) uses
 * the same key names without computing CRC16 in a template. chart/test checks the file is current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { shardTags } from '../service-kit/src/stream-shards.ts';

export const STREAM_SHARDS_FILE = fileURLToPath(new URL('../chart/files/stream-shards.json', import.meta.url));

export function streamShardsTable(): Record<string, string[]> {
  return Object.fromEntries(Array.from({ length: 64 }, (_, i) => [String(i + 1), shardTags(i + 1)]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(STREAM_SHARDS_FILE, `${JSON.stringify(streamShardsTable())}\n`);
  console.log(`wrote ${STREAM_SHARDS_FILE}`);
}
