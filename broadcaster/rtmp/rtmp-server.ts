// The RTMP ingest server: accepts TCP connections and runs an RtmpConnection on each, up to a cap in
// all and per remote address, since anyone can connect before a stream key is checked.

import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { defaultChunkReaderLimits } from './chunk-stream.ts';
import { RtmpConnection, type PublishAuthorizer, type RtmpConnectionLimits } from './rtmp-connection.ts';
import type { RtmpRefusal } from './rtmp-protocol-error.ts';
import type { Logger } from '../../observability/logger.ts';
import { bindFailure } from '../../http/bind-failure.ts';

/** What RTMP ingest allows; names match the broadcaster's options, so those can be passed as they are. */
export interface RtmpLimits {
  rtmpMaxConnections: number;
  rtmpMaxConnectionsPerIp: number;
  rtmpHandshakeTimeoutMs: number;
  rtmpIdleTimeoutMs: number;
  rtmpMaxMessageBytes: number;
  rtmpMaxChunkStreams: number;
  rtmpMaxReassemblyBytes: number;
}

export const defaultRtmpLimits: RtmpLimits = {
  rtmpMaxConnections: 256,
  rtmpMaxConnectionsPerIp: 8,
  rtmpHandshakeTimeoutMs: 10_000,
  rtmpIdleTimeoutMs: 30_000,
  rtmpMaxMessageBytes: defaultChunkReaderLimits.maxMessageBytes,
  rtmpMaxChunkStreams: defaultChunkReaderLimits.maxChunkStreams,
  rtmpMaxReassemblyBytes: defaultChunkReaderLimits.maxReassemblyBytes,
};

export interface RtmpServerOptions {
  host: string;
  port: number;
  authorize: PublishAuthorizer;
  logger: Logger;
  limits?: Partial<RtmpLimits>;
  /** Told each time a limit or a protocol violation refuses something; metrics count it. */
  onRefused?: (reason: RtmpRefusal) => void;
}

export class RtmpServer {
  private readonly server: Server;
  private readonly connections = new Set<RtmpConnection>();
  private readonly perAddress = new Map<string, number>();
  private readonly options: RtmpServerOptions;
  private readonly limits: RtmpLimits;
  private readonly connectionLimits: RtmpConnectionLimits;
  port = 0;

  constructor(options: RtmpServerOptions) {
    this.options = options;
    this.limits = { ...defaultRtmpLimits, ...options.limits };
    this.connectionLimits = {
      handshakeTimeoutMs: this.limits.rtmpHandshakeTimeoutMs,
      idleTimeoutMs: this.limits.rtmpIdleTimeoutMs,
      maxMessageBytes: this.limits.rtmpMaxMessageBytes,
      maxChunkStreams: this.limits.rtmpMaxChunkStreams,
      maxReassemblyBytes: this.limits.rtmpMaxReassemblyBytes,
    };
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Connections open now, in handshake or past it. */
  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const fromAddress = this.perAddress.get(address) ?? 0;
    const refusal: RtmpRefusal | null =
      this.connections.size >= this.limits.rtmpMaxConnections ? 'max_connections' : fromAddress >= this.limits.rtmpMaxConnectionsPerIp ? 'max_connections_per_ip' : null;
    if (refusal) {
      // Debug only: a flood of refused connections must not flood the log; the metric counts them.
      this.options.logger.debug({ remote: address, reason: refusal }, 'rtmp connection refused');
      this.options.onRefused?.(refusal);
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const conn = new RtmpConnection(socket, {
      authorize: this.options.authorize,
      logger: this.options.logger,
      limits: this.connectionLimits,
      onRefused: this.options.onRefused,
    });
    this.connections.add(conn);
    this.perAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.connections.delete(conn);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(bindFailure(err, this.options.host, this.options.port, 'RTMP'));
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        this.port = (this.server.address() as AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  close(): Promise<void> {
    for (const conn of this.connections) conn.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
