import autocannon from 'autocannon';

export interface IngestResult {
  label: string;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

export async function drive(label: string, baseUrl: string, seconds: number, connections: number): Promise<IngestResult> {
  const r = await autocannon({
    url: `${baseUrl}/api/vote`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ option: 'cats' }),
    connections,
    duration: seconds,
  });
  return {
    label,
    requestsPerSec: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}
