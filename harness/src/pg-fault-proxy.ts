/**
 * A TCP proxy in front of PostgreSQL that can make one COMMIT misbehave, the way a flaky network
 * does at the worst moment. It reads the client's side of the wire protocol just far enough to
 * find a simple-query `COMMIT` and then, once armed:
 * - `drop`: the COMMIT never arrives and the connection is cut (PostgreSQL rolls back);
 * - `hold`: the COMMIT arrives `ms` late (a slow link; the client just waits);
 * - `cut-after`: the COMMIT arrives and is carried out, but its answer is lost and the connection
 *   is cut (the client cannot tell that it committed).
 */
import net from 'node:net';

export type CommitFault = { kind: 'drop' } | { kind: 'hold'; ms: number } | { kind: 'cut-after' };

const SSL_REQUEST = 80_877_103;
const GSS_REQUEST = 80_877_104;

export interface PgFaultProxy {
  port: number;
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  url(databaseUrl: string): string;
  /** The next COMMIT on any connection gets `fault`; resolves once it has been applied. */
  armCommit(fault: CommitFault): Promise<void>;
  /** COMMITs seen so far (faulted or not). */
  readonly commits: number;
  /** Every connection cut at once, mid-query or idle, with no message from PostgreSQL (a TCP reset). */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startPgFaultProxy(upstream: { host: string; port: number }): Promise<PgFaultProxy> {
  let armed: { fault: CommitFault; fired: () => void } | null = null;
  let commits = 0;
  const sockets = new Set<net.Socket>();

  const cutAll = () => {
    for (const s of sockets) s.destroy();
  };

  const server = net.createServer((client) => {
    const backend = net.connect(upstream.port, upstream.host);
    sockets.add(client).add(backend);
    client.setNoDelay(true);
    backend.setNoDelay(true);
    const cut = () => {
      client.destroy();
      backend.destroy();
    };
    backend.on('close', () => (sockets.delete(backend), client.end()));
    client.on('error', cut);
    backend.on('error', cut);
    /** Set while a `cut-after` COMMIT is on its way: its answer is swallowed and the link cut. */
    let swallowAnswer = false;
    backend.on('data', (chunk: Buffer) => {
      if (swallowAnswer) return cut();
      client.write(chunk);
    });

    // Messages are forwarded in order: a held COMMIT holds what the client sends after it too.
    let buffered = Buffer.alloc(0);
    let startup = true;
    let queue: Promise<void> = Promise.resolve();
    const forward = (bytes: Buffer) => {
      queue = queue.then(() => void backend.write(bytes));
    };
    // As on a real link, what the client sent before it hung up still arrives, then the FIN.
    client.on('close', () => {
      sockets.delete(client);
      queue = queue.then(() => void backend.end());
    });
    client.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (startup) {
          if (buffered.length < 8) return;
          const len = buffered.readInt32BE(0);
          if (buffered.length < len) return;
          const code = buffered.readInt32BE(4);
          // An SSL or GSS request is answered by the server, then the real start-up follows.
          startup = code === SSL_REQUEST || code === GSS_REQUEST;
          forward(buffered.subarray(0, len));
          buffered = buffered.subarray(len);
          continue;
        }
        if (buffered.length < 5) return;
        const len = buffered.readInt32BE(1) + 1;
        if (buffered.length < len) return;
        const message = buffered.subarray(0, len);
        buffered = buffered.subarray(len);
        const isCommit = message[0] === 0x51 /* Q */ && /^\s*COMMIT\b/i.test(message.subarray(5).toString('utf8'));
        if (!isCommit) {
          forward(message);
          continue;
        }
        commits++;
        const trap = armed;
        armed = null;
        if (!trap) {
          forward(message);
          continue;
        }
        const { fault, fired } = trap;
        if (fault.kind === 'drop') {
          queue = queue.then(() => {
            cut();
            fired();
          });
        } else if (fault.kind === 'hold') {
          queue = queue.then(
            () =>
              new Promise<void>((resolve) =>
                setTimeout(() => {
                  backend.write(message);
                  fired();
                  resolve();
                }, fault.ms),
              ),
          );
        } else {
          queue = queue.then(() => {
            swallowAnswer = true;
            backend.write(message);
            fired();
          });
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url(databaseUrl) {
      const u = new URL(databaseUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    armCommit(fault) {
      return new Promise<void>((fired) => {
        armed = { fault, fired };
      });
    },
    get commits() {
      return commits;
    },
    cutAll,
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
