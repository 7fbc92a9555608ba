// One RTMP client connection: the simple handshake, the NetConnection/NetStream commands OBS and ffmpeg
// send to publish (connect, releaseStream, FCPublish, createStream, publish, FCUnpublish, deleteStream),
// and hand-off of audio, video and metadata to a PublishSink. Playback over RTMP is refused.
// Everything a peer sends before its publish is authorized is hostile input: the connection publishes at
// most once, times out, and bounds what reassembly holds (ChunkReaderLimits).

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { AmfDecoder, decodeAmf0, encodeAmf0, type AmfValue } from './amf0.ts';
import { ChunkReader, MessageType, encodeChunks, type ChunkReaderLimits, type RtmpMessage } from './chunk-stream.ts';
import { RtmpProtocolError, type RtmpRefusal } from './rtmp-protocol-error.ts';
import type { Logger } from '../../observability/logger.ts';

export interface PublishRequest {
  app: string;
  /** The publish name with any `?query` removed: the stream key. */
  streamKey: string;
  remoteAddress: string;
  /**
   * Closes this connection: for a publication that cannot go on (its segment cutter died, the disk is full),
   * so that the encoder reconnects and a fresh publication starts, instead of a live-looking frozen stream.
   */
  disconnect(reason: string): void;
}

/** Receives one publication's media. Timestamps are RTMP milliseconds. */
export interface PublishSink {
  onMetadata(amf0OnMetaData: Buffer): void;
  onAudio(timestamp: number, payload: Buffer): void;
  onVideo(timestamp: number, payload: Buffer): void;
  onEnd(): void;
}

export type PublishAuthorizer = (request: PublishRequest) => Promise<PublishSink>;

export interface RtmpConnectionLimits extends ChunkReaderLimits {
  /** From accept to the end of the handshake. */
  handshakeTimeoutMs: number;
  /** Longest time without a complete message before the connection is closed. */
  idleTimeoutMs: number;
}

export interface RtmpConnectionOptions {
  authorize: PublishAuthorizer;
  logger: Logger;
  limits: RtmpConnectionLimits;
  /** Told each time a limit or a protocol violation refuses something; metrics count it. */
  onRefused?: (reason: RtmpRefusal) => void;
}

const HANDSHAKE_SIZE = 1536;
const OUT_CHUNK_SIZE = 4096;
const WINDOW_ACK_SIZE = 5_000_000;
const CSID_CONTROL = 2;
const CSID_COMMAND = 3;
const CSID_STREAM = 5;
const PUBLISH_STREAM_ID = 1;

type Phase = 'c0c1' | 'c2' | 'chunks' | 'closed';
/** A connection publishes once: a second publish, even one sent before the first is authorized, is refused. */
type PublishState = 'none' | 'authorizing' | 'publishing' | 'ended';

export class RtmpConnection {
  private phase: Phase = 'c0c1';
  /** C0 (1 byte), C1 and C2; freed once the handshake is done. */
  private handshake = Buffer.alloc(1 + 2 * HANDSHAKE_SIZE);
  private handshakeFill = 0;
  private readonly reader: ChunkReader;
  private app = '';
  private sink: PublishSink | null = null;
  private publishState: PublishState = 'none';
  private bytesIn = 0;
  private lastAck = 0;
  private peerWindow = 0;
  /** The handshake timeout, then the idle timeout, refreshed by every complete message. */
  private timer: NodeJS.Timeout;
  private readonly socket: Socket;
  private readonly options: RtmpConnectionOptions;
  private readonly logger: Logger;

  constructor(socket: Socket, options: RtmpConnectionOptions) {
    this.socket = socket;
    this.options = options;
    this.logger = options.logger;
    this.reader = new ChunkReader(options.limits);
    socket.setNoDelay(true);
    this.timer = setTimeout(() => this.fail(new RtmpProtocolError('handshake_timeout', 'handshake timed out')), options.limits.handshakeTimeoutMs);
    this.timer.unref();
    socket.on('data', (data: Buffer) => {
      try {
        this.onData(data);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('error', (err) => this.logger.debug({ err }, 'rtmp socket error'));
    socket.on('close', () => this.close());
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.timer);
    this.endPublication();
    this.socket.destroy();
  }

  private fail(err: Error): void {
    if (this.phase === 'closed') return;
    if (err instanceof RtmpProtocolError) {
      // What a peer can cause is logged once per connection at info, never as a warning.
      this.options.onRefused?.(err.reason);
      this.logger.info({ remote: this.socket.remoteAddress, reason: err.reason, err }, 'rtmp connection closed');
    } else {
      this.logger.warn({ remote: this.socket.remoteAddress, err }, 'rtmp connection dropped');
    }
    this.close();
  }

  private onData(data: Buffer): void {
    this.bytesIn += data.length;
    if (this.phase === 'c0c1' || this.phase === 'c2') {
      // C0, C1 and C2 fill one fixed buffer: bytes trickling in are copied once.
      const n = Math.min(this.handshake.length - this.handshakeFill, data.length);
      data.copy(this.handshake, this.handshakeFill, 0, n);
      this.handshakeFill += n;
      data = data.subarray(n);
      if (this.handshake[0] !== 3) throw new RtmpProtocolError('protocol', `not an RTMP client (first byte 0x${this.handshake[0]!.toString(16)})`);
      if (this.phase === 'c0c1') {
        if (this.handshakeFill < 1 + HANDSHAKE_SIZE) return;
        const c1 = this.handshake.subarray(1, 1 + HANDSHAKE_SIZE);
        const s1 = Buffer.alloc(HANDSHAKE_SIZE);
        s1.writeUInt32BE(Math.floor(performance.now()) >>> 0, 0);
        randomBytes(HANDSHAKE_SIZE - 8).copy(s1, 8);
        this.socket.write(Buffer.concat([Buffer.from([3]), s1, c1]));
        this.phase = 'c2';
      }
      if (this.handshakeFill < this.handshake.length) return;
      this.handshake = Buffer.alloc(0);
      this.phase = 'chunks';
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.onIdle(), this.options.limits.idleTimeoutMs);
      this.timer.unref();
      if (data.length === 0) return;
    }
    const messages = this.reader.push(data);
    if (messages.length > 0) this.timer.refresh();
    for (const msg of messages) {
      if (this.phase === 'closed') return;
      this.onMessage(msg);
    }
    if (this.peerWindow > 0 && this.bytesIn - this.lastAck >= this.peerWindow) {
      this.lastAck = this.bytesIn;
      const ack = Buffer.alloc(4);
      ack.writeUInt32BE(this.bytesIn >>> 0);
      this.send(CSID_CONTROL, MessageType.Acknowledgement, 0, ack);
    }
  }

  private onIdle(): void {
    // A client waiting for its publish to be authorized sends nothing; our authorization bounds that wait.
    if (this.publishState === 'authorizing') this.timer.refresh();
    else this.fail(new RtmpProtocolError('idle_timeout', 'no message within the idle timeout'));
  }

  private onMessage(msg: RtmpMessage): void {
    switch (msg.type) {
      case MessageType.Audio:
        this.sink?.onAudio(msg.timestamp, msg.payload);
        return;
      case MessageType.Video:
        this.sink?.onVideo(msg.timestamp, msg.payload);
        return;
      case MessageType.WindowAckSize:
        if (msg.payload.length < 4) throw new RtmpProtocolError('protocol', 'RTMP: short Window Acknowledgement Size');
        this.peerWindow = msg.payload.readUInt32BE(0);
        return;
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.onData0(msg.type === MessageType.DataAmf3 ? msg.payload.subarray(1) : msg.payload);
        return;
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.onCommand(msg.type === MessageType.CommandAmf3 ? msg.payload.subarray(1) : msg.payload, msg.streamId);
        return;
      default:
        return; // acknowledgements, user control and bandwidth messages need no answer from a publish-only server
    }
  }

  private onData0(payload: Buffer): void {
    if (!this.sink) return;
    const decoder = new AmfDecoder(payload);
    const first = decoder.read();
    // `@setDataFrame` wraps the metadata FLV stores as a plain `onMetaData` script tag.
    if (first === '@setDataFrame') this.sink.onMetadata(payload.subarray(decoder.position));
    else if (first === 'onMetaData') this.sink.onMetadata(payload);
  }

  private onCommand(payload: Buffer, streamId: number): void {
    const [name, txnValue, props, ...args] = decodeAmf0(payload);
    const txn = typeof txnValue === 'number' ? txnValue : 0;
    switch (name) {
      case 'connect': {
        const app = props !== null && typeof props === 'object' && !Array.isArray(props) && !(props instanceof Date) ? props.app : undefined;
        this.app = (typeof app === 'string' ? app : '').replace(/\/$/, '');
        const win = Buffer.alloc(4);
        win.writeUInt32BE(WINDOW_ACK_SIZE);
        this.send(CSID_CONTROL, MessageType.WindowAckSize, 0, win);
        const bw = Buffer.alloc(5);
        bw.writeUInt32BE(WINDOW_ACK_SIZE);
        bw[4] = 2; // dynamic
        this.send(CSID_CONTROL, MessageType.SetPeerBandwidth, 0, bw);
        const size = Buffer.alloc(4);
        size.writeUInt32BE(OUT_CHUNK_SIZE);
        this.send(CSID_CONTROL, MessageType.SetChunkSize, 0, size);
        this.outChunkSize = OUT_CHUNK_SIZE;
        this.command(0, '_result', txn, { fmsVer: 'FMS/3,0,1,123', capabilities: 31 }, {
          level: 'status',
          code: 'NetConnection.Connect.Success',
          description: 'Connection succeeded.',
          objectEncoding: 0,
        });
        return;
      }
      case 'createStream':
        this.command(0, '_result', txn, null, PUBLISH_STREAM_ID);
        return;
      case 'releaseStream':
      case 'FCPublish':
      case 'getStreamLength':
        if (txn) this.command(0, '_result', txn, null, undefined);
        return;
      case 'publish':
        this.onPublish(typeof args[0] === 'string' ? args[0] : '', streamId || PUBLISH_STREAM_ID);
        return;
      case 'play':
        this.status(streamId, 'error', 'NetStream.Play.Failed', 'Playback over RTMP is not offered: watch over HLS.');
        return;
      case 'FCUnpublish':
      case 'deleteStream':
      case 'closeStream':
        this.endPublication();
        return;
      default:
        return;
    }
  }

  /** Synchronous up to the authorization, so that two publishes in one read cannot both pass the check. */
  private onPublish(publishName: string, streamId: number): void {
    if (this.publishState !== 'none') {
      this.options.onRefused?.('second_publish');
      this.logger.debug({ remote: this.socket.remoteAddress }, 'second publish on one rtmp connection refused');
      this.status(streamId, 'error', 'NetStream.Publish.BadName', 'This connection has already published: open a new connection.');
      return;
    }
    this.publishState = 'authorizing';
    const streamKey = publishName.split('?')[0]!;
    const disconnect = (reason: string) => {
      if (this.closed) return;
      this.logger.info({ remote: this.socket.remoteAddress, reason }, 'rtmp publisher disconnected: its publication cannot go on');
      this.close();
    };
    void this.authorizePublish({ app: this.app, streamKey, remoteAddress: this.socket.remoteAddress ?? '', disconnect }, streamId);
  }

  private async authorizePublish(request: PublishRequest, streamId: number): Promise<void> {
    let sink: PublishSink;
    try {
      sink = await this.options.authorize(request);
    } catch (err) {
      this.publishState = 'ended';
      // A refused key is an outsider's doing: info, not a warning.
      this.logger.info({ app: this.app, remote: this.socket.remoteAddress, err }, 'publish refused');
      this.status(streamId, 'error', 'NetStream.Publish.BadName', (err as Error).message);
      // Let the refusal reach the client before the connection ends.
      setTimeout(() => this.close(), 100).unref();
      return;
    }
    // Closed, unpublished or deleted while being authorized: end what the authorization started.
    if (this.closed || this.publishState !== 'authorizing') {
      sink.onEnd();
      return;
    }
    this.sink = sink;
    this.publishState = 'publishing';
    this.status(streamId, 'status', 'NetStream.Publish.Start', 'Publishing started.');
  }


  private endPublication(): void {
    if (this.publishState === 'none') return;
    const sink = this.sink;
    this.sink = null;
    this.publishState = 'ended';
    sink?.onEnd();
  }

  private outChunkSize = 128;

  private send(csid: number, type: number, streamId: number, payload: Buffer): void {
    if (this.phase === 'closed') return;
    this.socket.write(encodeChunks({ csid, type, streamId, timestamp: 0, payload }, this.outChunkSize));
  }

  private command(streamId: number, name: string, txn: number, ...args: AmfValue[]): void {
    this.send(streamId ? CSID_STREAM : CSID_COMMAND, MessageType.CommandAmf0, streamId, encodeAmf0(name, txn, ...args));
  }

  private status(streamId: number, level: string, code: string, description: string): void {
    this.command(streamId, 'onStatus', 0, null, { level, code, description });
  }
}
