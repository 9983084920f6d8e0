import { hostname } from 'node:os';
import { z } from 'zod';
import { commonEnv, intEnv, parseEnv } from '@livevote/service-kit';

const shape = {
  ...commonEnv,
  PORT: intEnv(0, 65535, 3001),
  /**
   * Connections in this process's pool: count it into max_connections. At least one per stream
   * shard plus one is used however low this is set (each shard's loop holds one per batch).
   */
  DATABASE_POOL_MAX: intEnv(1, 1000, 4),
  /** Unique per live process; the pod name in Kubernetes, so a restarted pod is a new consumer. */
  CONSUMER_NAME: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default(hostname()),
  // Only an upper bound: a batch holds what has arrived. 5,000 drained a backlog ~15 % faster than
  // 1,000 here (docs/performance.md), at ~50 ms per transaction.
  BATCH_SIZE: intEnv(1, 10_000, 5000),
  BLOCK_MS: intEnv(1, 60_000, 2000),
  /** Pending entries idle this long belong to a consumer presumed dead and are taken over. */
  CLAIM_IDLE_MS: intEnv(1000, 3_600_000, 30_000),
  CLAIM_EVERY_MS: intEnv(100, 3_600_000, 5000),
  /**
   * An entry PostgreSQL rejects for its data (SQLSTATE 22/23) on a delivery past this count is
   * dead-lettered. Deliveries while the database is away (read-only, down, locked) never count.
   */
  MAX_DELIVERIES: intEnv(1, 1000, 5),
  /**
   * An entry that crashed the consumer this many times (the process died or threw outside
   * PostgreSQL while it was being applied alone) is dead-lettered, kept for a replay.
   */
  MAX_CRASHES: intEnv(1, 100, 3),
  /** Consumers (restarted pods) silent this long and holding nothing are removed from the group. */
  FORGET_CONSUMER_AFTER_MS: intEnv(1000, 30 * 86_400_000, 3_600_000),
  TRIM_EVERY_MS: intEnv(100, 3_600_000, 5000),
  PRUNE_EVERY_MS: intEnv(1000, 86_400_000, 60_000),
  /** How long a client may retry with the same Idempotency-Key and still be deduplicated. */
  APPLIED_RETENTION_HOURS: intEnv(1, 24 * 90, 24),
  SHUTDOWN_GRACE_MS: intEnv(0, 600_000, 10_000),
  /** Test-only fault hook: probability of exiting between COMMIT and XACK. Never set in production. */
  FAULT_EXIT_AFTER_COMMIT: z.coerce.number().min(0).max(1).default(0),
  /** Test-only fault hook: votes whose ID starts with this fail in PostgreSQL like a poison entry. */
  FAULT_REJECT_VID_PREFIX: z.string().min(1).optional(),
  /** Test-only fault hook: a batch holding a vote whose ID starts with this crashes the process, as a bug would. */
  FAULT_CRASH_VID_PREFIX: z.string().min(1).optional(),
  /** Test-only: a batch whose transaction failed is acknowledged anyway (the nemesis's broken build). */
  FAULT_ACK_UNCOMMITTED: z.enum(['0', '1']).default('0'),
};

export type ConsumerConfig = z.infer<z.ZodObject<typeof shape>>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ConsumerConfig {
  return parseEnv(shape, env);
}
