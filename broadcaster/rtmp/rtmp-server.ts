// The RTMP ingest server: accepts TCP connections and runs an RtmpConnection on each.

import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { RtmpConnection, type PublishAuthorizer } from './rtmp-connection.ts';
import type { Logger } from '../../observability/logger.ts';

export interface RtmpServerOptions {
  host: string;
  port: number;
  authorize: PublishAuthorizer;
  logger: Logger;
}

export class RtmpServer {
  private readonly server: Server;
  private readonly connections = new Set<RtmpConnection>();
  private readonly options: RtmpServerOptions;
  port = 0;

  constructor(options: RtmpServerOptions) {
    this.options = options;
    this.server = createServer((socket: Socket) => {
      const conn = new RtmpConnection(socket, options.authorize, options.logger);
      this.connections.add(conn);
      socket.once('close', () => this.connections.delete(conn));
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
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
