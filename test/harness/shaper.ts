/**
 * A TCP proxy that makes loopback behave like a network path: every chunk is delayed by half
 * the round-trip time in its direction, a new connection costs one more round trip before its
 * first byte leaves (the handshake), and each direction of each connection is capped at a
 * bandwidth (bytes are serialized at that rate, then propagate). TLS is not modeled.
 *
 * Put it in front of a registry (or of the request-recording shim, shim.ts) to count the
 * serial round trips a client needs.
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ShaperOptions {
  /** Round-trip time in milliseconds. */
  rttMs: number;
  /** Bandwidth per connection and direction, in Mbit/s (0: unlimited). */
  mbit: number;
  /** Bytes queued in one direction before the sender is paused. */
  queueBytes?: number;
}

export interface ShapedConnection {
  id: number;
  /** Epoch milliseconds (performance.timeOrigin + now), comparable with a page's clock. */
  openedAt: number;
  closedAt?: number;
  bytesUp: number;
  bytesDown: number;
}

export interface Shaper {
  host: string;
  url: string;
  connections: ShapedConnection[];
  stop(): Promise<void>;
}

export const epochNow = () => performance.timeOrigin + performance.now();

/** One direction of a connection: a FIFO of chunks, each released at its arrival time. */
class Link {
  #queue: { at: number; data: Buffer | null }[] = [];
  #queued = 0;
  #wireFree: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #blocked = false;

  constructor(
    private from: Socket,
    private to: Socket,
    private opts: Required<ShaperOptions>,
    /** Nothing leaves before this time (the handshake). */
    notBefore: number,
    private count: (n: number) => void,
  ) {
    this.#wireFree = notBefore;
    from.on('data', (c: Buffer) => this.#push(c));
    from.on('end', () => this.#push(null));
    to.on('drain', () => {
      this.#blocked = false;
      this.#pump();
    });
  }

  #push(data: Buffer | null) {
    const now = performance.now();
    const bytes = data?.length ?? 0;
    const txMs = this.opts.mbit > 0 ? (bytes * 8) / (this.opts.mbit * 1000) : 0;
    this.#wireFree = Math.max(now, this.#wireFree) + txMs;
    this.#queue.push({ at: this.#wireFree + this.opts.rttMs / 2, data });
    this.#queued += bytes;
    if (this.#queued > this.opts.queueBytes) this.from.pause();
    this.#pump();
  }

  #pump() {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (!this.#blocked && this.#queue.length) {
      const head = this.#queue[0]!;
      const wait = head.at - performance.now();
      if (wait > 0.5) {
        this.#timer = setTimeout(() => this.#pump(), wait);
        return;
      }
      this.#queue.shift();
      if (head.data === null) {
        this.to.end();
        return;
      }
      this.#queued -= head.data.length;
      this.count(head.data.length);
      if (!this.to.write(head.data)) this.#blocked = true;
      if (this.#queued <= this.opts.queueBytes) this.from.resume();
    }
  }

  stop() {
    clearTimeout(this.#timer);
  }
}

/** Starts the shaper on 127.0.0.1, forwarding to upstream ('127.0.0.1:PORT'). */
export async function startShaper(upstream: string, options: ShaperOptions): Promise<Shaper> {
  const opts: Required<ShaperOptions> = { queueBytes: 8 << 20, ...options };
  const [upHost, upPort] = upstream.replace(/^https?:\/\//, '').split(':') as [string, string];
  const connections: ShapedConnection[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const conn: ShapedConnection = {
      id: connections.length + 1,
      openedAt: epochNow(),
      bytesUp: 0,
      bytesDown: 0,
    };
    connections.push(conn);
    const server = connect(Number(upPort), upHost);
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        server.destroy();
      });
    }
    // The handshake: the client's first byte leaves one round trip after it connected.
    const start = performance.now() + opts.rttMs;
    const up = new Link(client, server, opts, start, (n) => (conn.bytesUp += n));
    const down = new Link(server, client, opts, start, (n) => (conn.bytesDown += n));
    client.on('close', () => {
      conn.closedAt ??= epochNow();
      up.stop();
      down.stop();
      server.destroy();
    });
    // When the upstream closes, what is queued toward the client still arrives: the link ends
    // the client after it.
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    host,
    url: `http://${host}`,
    connections,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return stopped;
    },
  };
}
