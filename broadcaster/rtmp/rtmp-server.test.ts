import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'vitest';
import { decodeAmf0, encodeAmf0, type AmfValue } from './amf0.ts';
import { ChunkReader, MessageType, encodeChunks } from './chunk-stream.ts';
import type { PublishRequest, PublishSink } from './rtmp-connection.ts';
import type { RtmpRefusal } from './rtmp-protocol-error.ts';
import { RtmpServer, type RtmpLimits } from './rtmp-server.ts';
import { silentLogger } from '../../observability/logger.ts';
import { waitFor, within } from '../../test/support/wait.ts';

const HANDSHAKE_SIZE = 1536;
const WAIT_MS = 5_000;

/** A publish sink that records what it was told. */
class RecordingSink implements PublishSink {
  ends = 0;
  onMetadata(): void {}
  onAudio(): void {}
  onVideo(): void {}
  onEnd(): void {
    this.ends += 1;
  }
}

/** An authorizer whose answers the test releases, to reproduce publishes that arrive while one is pending. */
class HeldAuthorizer {
  readonly requests: PublishRequest[] = [];
  readonly sinks: RecordingSink[] = [];
  private readonly releases: Array<() => void> = [];

  readonly authorize = (request: PublishRequest): Promise<PublishSink> => {
    this.requests.push(request);
    return new Promise((resolve) => {
      this.releases.push(() => {
        const sink = new RecordingSink();
        this.sinks.push(sink);
        resolve(sink);
      });
    });
  };

  releaseAll(): void {
    for (const release of this.releases.splice(0)) release();
  }
}

const servers: RtmpServer[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(limits: Partial<RtmpLimits>, authorize = new HeldAuthorizer().authorize) {
  const refused: RtmpRefusal[] = [];
  const server = new RtmpServer({ host: '127.0.0.1', port: 0, authorize, logger: silentLogger, limits, onRefused: (reason) => refused.push(reason) });
  servers.push(server);
  await server.listen();
  return { server, refused };
}

/** A raw RTMP client: the test decides every byte it sends. */
class TestClient {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  private readonly reader = new ChunkReader();
  private handshakeBytes = 0;
  private readonly commands: AmfValue[][] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', (data: Buffer) => {
      // S0, S1 and S2 come first; chunks after them.
      const skip = Math.min(1 + 2 * HANDSHAKE_SIZE - this.handshakeBytes, data.length);
      this.handshakeBytes += skip;
      for (const msg of this.reader.push(data.subarray(skip))) {
        if (msg.type === MessageType.CommandAmf0) this.commands.push(decodeAmf0(msg.payload));
      }
    });
  }

  static async open(port: number, localAddress = '127.0.0.1'): Promise<TestClient> {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    sockets.push(socket);
    const client = new TestClient(socket);
    await within('the TCP connection', new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), WAIT_MS);
    return client;
  }

  async handshake(): Promise<void> {
    this.socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(HANDSHAKE_SIZE)]));
    await waitFor('S0 S1 S2', () => this.handshakeBytes === 1 + 2 * HANDSHAKE_SIZE, WAIT_MS, 5);
    this.socket.write(Buffer.alloc(HANDSHAKE_SIZE));
  }

  static command(name: string, txn: number, ...args: AmfValue[]): Buffer {
    return encodeChunks({ csid: 3, type: MessageType.CommandAmf0, streamId: 0, timestamp: 0, payload: encodeAmf0(name, txn, ...args) }, 128);
  }

  /** Waits for an onStatus with this code and returns how many have come. */
  async status(code: string): Promise<number> {
    return waitFor(`onStatus ${code}`, () => {
      const n = this.commands.filter((c) => c[0] === 'onStatus' && (c[3] as { code?: string } | undefined)?.code === code).length;
      return n > 0 && n;
    }, WAIT_MS, 5);
  }
}

const publishCommands = (...names: string[]) =>
  Buffer.concat([
    TestClient.command('connect', 1, { app: 'live' }),
    TestClient.command('createStream', 2, null),
    ...names.map((name) => TestClient.command('publish', 0, null, name, 'live')),
  ]);

describe('RTMP server under hostile input', () => {
  it('authorizes one publish per connection, even when two arrive in one packet before the first is authorized', async () => {
    const authorizer = new HeldAuthorizer();
    const { server, refused } = await startServer({}, authorizer.authorize);
    const client = await TestClient.open(server.port);
    await client.handshake();
    client.socket.write(publishCommands('key-a', 'key-b', 'key-c'));
    assert.equal(await client.status('NetStream.Publish.BadName'), 2);
    assert.deepEqual(authorizer.requests.map((r) => r.streamKey), ['key-a']);
    authorizer.releaseAll();
    await client.status('NetStream.Publish.Start');
    assert.deepEqual(refused, ['second_publish', 'second_publish']);

    client.socket.destroy();
    await waitFor('the publication to end', () => authorizer.sinks[0]!.ends === 1, WAIT_MS, 5);
    assert.equal(authorizer.sinks.length, 1);
    assert.equal(authorizer.sinks[0]!.ends, 1);
  });

  it('ends a publication whose connection closed while it was being authorized, once', async () => {
    const authorizer = new HeldAuthorizer();
    const { server } = await startServer({}, authorizer.authorize);
    const client = await TestClient.open(server.port);
    await client.handshake();
    client.socket.write(publishCommands('key-a'));
    await waitFor('the authorization request', () => authorizer.requests.length === 1, WAIT_MS, 5);
    client.socket.destroy();
    await waitFor('the server to drop the connection', () => server.connectionCount === 0, WAIT_MS, 5);
    authorizer.releaseAll();
    await waitFor('the publication to end', () => authorizer.sinks[0]?.ends === 1, WAIT_MS, 5);
    assert.equal(authorizer.sinks[0]!.ends, 1);
  });

  it('refuses connections past the total cap', async () => {
    const { server, refused } = await startServer({ rtmpMaxConnections: 2 });
    await TestClient.open(server.port);
    await TestClient.open(server.port);
    await waitFor('two accepted connections', () => server.connectionCount === 2, WAIT_MS, 5);
    const third = await TestClient.open(server.port);
    await within('the third connection to be closed', third.closed, WAIT_MS);
    assert.deepEqual(refused, ['max_connections']);
    assert.equal(server.connectionCount, 2);
  });

  it('refuses connections past the cap for one address, and accepts another address', async () => {
    const { server, refused } = await startServer({ rtmpMaxConnectionsPerIp: 1 });
    await TestClient.open(server.port);
    await waitFor('the first connection', () => server.connectionCount === 1, WAIT_MS, 5);
    const second = await TestClient.open(server.port);
    await within('the second connection from 127.0.0.1 to be closed', second.closed, WAIT_MS);
    assert.deepEqual(refused, ['max_connections_per_ip']);
    await TestClient.open(server.port, '127.0.0.2');
    await waitFor('the connection from 127.0.0.2', () => server.connectionCount === 2, WAIT_MS, 5);
  });

  it('closes a connection that does not finish its handshake in time', async () => {
    const { server, refused } = await startServer({ rtmpHandshakeTimeoutMs: 100 });
    const client = await TestClient.open(server.port);
    client.socket.write(Buffer.from([3]));
    await within('the handshake timeout', client.closed, WAIT_MS);
    assert.deepEqual(refused, ['handshake_timeout']);
  });

  it('closes a connection that sends no message within the idle timeout', async () => {
    const { server, refused } = await startServer({ rtmpIdleTimeoutMs: 100 });
    const client = await TestClient.open(server.port);
    await client.handshake();
    await within('the idle timeout', client.closed, WAIT_MS);
    assert.deepEqual(refused, ['idle_timeout']);
  });

  it('closes a connection whose partial messages on many chunk streams pass the reassembly bound', async () => {
    const { server, refused } = await startServer({ rtmpMaxReassemblyBytes: 1024 * 1024, rtmpMaxChunkStreams: 64 });
    const client = await TestClient.open(server.port);
    await client.handshake();
    // The first chunk of a 256 KiB message on chunk streams 4, 5, 6…: the fifth passes 1 MiB.
    const firstChunks = [4, 5, 6, 7, 8].map((csid) =>
      encodeChunks({ csid, type: MessageType.Video, streamId: 1, timestamp: 0, payload: Buffer.alloc(256 * 1024) }, 128).subarray(0, 12 + 128),
    );
    client.socket.write(Buffer.concat(firstChunks));
    await within('the connection to be closed', client.closed, WAIT_MS);
    assert.deepEqual(refused, ['reassembly_bytes']);
  });

  it('closes a connection that opens more chunk streams than the bound', async () => {
    const { server, refused } = await startServer({ rtmpMaxChunkStreams: 8 });
    const client = await TestClient.open(server.port);
    await client.handshake();
    const opens = Array.from({ length: 9 }, (_, i) => encodeChunks({ csid: 10 + i, type: MessageType.Video, streamId: 1, timestamp: 0, payload: Buffer.alloc(200) }, 128).subarray(0, 12 + 128));
    client.socket.write(Buffer.concat(opens));
    await within('the connection to be closed', client.closed, WAIT_MS);
    assert.deepEqual(refused, ['too_many_chunk_streams']);
  });
});

describe('RTMP server start', () => {
  it('refuses a port in use with a message that names the address and the listener, not a stack', async () => {
    const { server: taken } = await startServer({});
    const second = new RtmpServer({ host: '127.0.0.1', port: taken.port, authorize: new HeldAuthorizer().authorize, logger: silentLogger, limits: {}, onRefused: () => {} });
    await assert.rejects(second.listen(), new RegExp(`^Error: 127\\.0\\.0\\.1:${taken.port} \\(RTMP\\) is already in use by another program: stop it or choose another port$`));
  });
});
