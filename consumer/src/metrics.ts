import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type StatsSource = () => Promise<{ length: number; pending: number; lag: number | null }>;

export function createConsumerMetrics(stats: StatsSource) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'livevote_consumer_' });

  let last = { length: 0, pending: 0, lag: 0 };
  // Read once per scrape, shared by the three gauges; a Redis outage keeps the last values.
  let inflight: Promise<void> | null = null;
  const refresh = () =>
    (inflight ??= stats()
      .then((s) => {
        last = { length: s.length, pending: s.pending, lag: s.lag ?? s.length };
      })
      .catch(() => {})
      .finally(() => {
        inflight = null;
      }));

  const statGauge = (name: string, help: string, field: keyof typeof last) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        await refresh();
        this.set(last[field]);
      },
    });

  const m = {
    registry,
    batchSize: new Histogram({
      name: 'livevote_consumer_batch_size_votes',
      help: 'Entries per batch read from the stream',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    batchDuration: new Histogram({
      name: 'livevote_consumer_batch_duration_seconds',
      help: 'Time to apply one batch in PostgreSQL, acknowledge and publish',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    applied: new Counter({ name: 'livevote_consumer_votes_applied_total', help: 'Votes added to the tallies', registers: [registry] }),
    duplicates: new Counter({
      name: 'livevote_consumer_duplicates_skipped_total',
      help: 'Re-delivered or re-sent votes skipped because their vote ID was already applied',
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'livevote_consumer_dead_lettered_total',
      help: 'Entries moved to the dead-letter stream',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    reclaimed: new Counter({ name: 'livevote_consumer_reclaimed_total', help: 'Entries taken over from idle consumers', registers: [registry] }),
    errors: new Counter({
      name: 'livevote_consumer_errors_total',
      help: 'Failed operations against a dependency',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    published: new Counter({ name: 'livevote_consumer_tallies_published_total', help: 'Tallies published', registers: [registry] }),
    streamLength: statGauge('livevote_stream_length_entries', 'Entries in the votes stream (read or not; trimmed below the acknowledged floor)', 'length'),
    pending: statGauge('livevote_consumer_pending_entries', 'Entries delivered to the group but not yet acknowledged', 'pending'),
    lag: statGauge('livevote_consumer_lag_entries', 'Entries in the stream not yet delivered to the group', 'lag'),
  };
  // Known labels start at 0: dashboards show 0 rather than "no data", and increase() sees the first event.
  for (const reason of ['invalid', 'max-deliveries', 'crashed']) m.deadLettered.inc({ reason }, 0);
  for (const dependency of ['redis', 'postgres']) m.errors.inc({ dependency }, 0);
  return m;
}

export type ConsumerMetrics = ReturnType<typeof createConsumerMetrics>;
