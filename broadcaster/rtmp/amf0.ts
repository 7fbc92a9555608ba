// AMF0 encoding and decoding (Adobe AMF0 spec), the value format of RTMP commands and FLV metadata.
// The decoder reads what an unauthenticated peer sends: it throws only RtmpProtocolError, and its work is
// bounded by the message length (every value consumes at least one byte) and by MAX_DEPTH.

import { RtmpProtocolError } from './rtmp-protocol-error.ts';

export type AmfValue = number | boolean | string | null | undefined | Date | AmfValue[] | { [key: string]: AmfValue };

const Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
} as const;

/** Nesting of objects and arrays: deep enough for any command or metadata, shallow enough for the stack. */
const MAX_DEPTH = 32;

export class AmfDecoder {
  private offset = 0;
  private depth = 0;
  private readonly buf: Buffer;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  get done(): boolean {
    return this.offset >= this.buf.length;
  }

  get position(): number {
    return this.offset;
  }

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw new RtmpProtocolError('protocol', 'AMF0: value runs past the end of the message');
  }

  private readUtf8(len: number): string {
    this.need(len);
    const s = this.buf.toString('utf8', this.offset, this.offset + len);
    this.offset += len;
    return s;
  }

  private readKey(): string {
    this.need(2);
    const len = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return this.readUtf8(len);
  }

  private readProperties(): { [key: string]: AmfValue } {
    const obj: { [key: string]: AmfValue } = {};
    for (;;) {
      const key = this.readKey();
      this.need(1);
      if (key === '' && this.buf[this.offset] === Marker.ObjectEnd) {
        this.offset += 1;
        return obj;
      }
      // An own property even for "__proto__", so a peer's key cannot swap the object's prototype.
      Object.defineProperty(obj, key, { value: this.read(), enumerable: true, writable: true, configurable: true });
    }
  }

  read(): AmfValue {
    if (this.depth >= MAX_DEPTH) throw new RtmpProtocolError('protocol', `AMF0: values nested deeper than ${MAX_DEPTH}`);
    this.depth += 1;
    try {
      return this.readValue();
    } finally {
      this.depth -= 1;
    }
  }

  private readValue(): AmfValue {
    this.need(1);
    const marker = this.buf[this.offset++];
    switch (marker) {
      case Marker.Number: {
        this.need(8);
        const v = this.buf.readDoubleBE(this.offset);
        this.offset += 8;
        return v;
      }
      case Marker.Boolean:
        this.need(1);
        return this.buf[this.offset++] !== 0;
      case Marker.String:
        return this.readKey();
      case Marker.LongString: {
        this.need(4);
        const len = this.buf.readUInt32BE(this.offset);
        this.offset += 4;
        return this.readUtf8(len);
      }
      case Marker.Object:
        return this.readProperties();
      case Marker.EcmaArray:
        this.need(4);
        this.offset += 4; // approximate count; the list ends with the object-end marker
        return this.readProperties();
      case Marker.StrictArray: {
        this.need(4);
        const count = this.buf.readUInt32BE(this.offset);
        this.offset += 4;
        const arr: AmfValue[] = [];
        for (let i = 0; i < count; i++) arr.push(this.read());
        return arr;
      }
      case Marker.Date: {
        this.need(10);
        const ms = this.buf.readDoubleBE(this.offset);
        this.offset += 10; // 8-byte time, 2-byte time zone (unused)
        return new Date(ms);
      }
      case Marker.Null:
        return null;
      case Marker.Undefined:
        return undefined;
      case Marker.Reference:
        this.need(2);
        this.offset += 2;
        return null;
      default:
        throw new RtmpProtocolError('protocol', `AMF0: unsupported marker 0x${(marker ?? 0).toString(16)}`);
    }
  }

  readAll(): AmfValue[] {
    const values: AmfValue[] = [];
    while (!this.done) values.push(this.read());
    return values;
  }
}

export function decodeAmf0(buf: Buffer): AmfValue[] {
  return new AmfDecoder(buf).readAll();
}

function encodeKey(key: string): Buffer {
  const body = Buffer.from(key, 'utf8');
  const head = Buffer.alloc(2);
  head.writeUInt16BE(body.length);
  return Buffer.concat([head, body]);
}

function encodeValue(value: AmfValue, out: Buffer[]): void {
  if (typeof value === 'number') {
    const b = Buffer.alloc(9);
    b[0] = Marker.Number;
    b.writeDoubleBE(value, 1);
    out.push(b);
  } else if (typeof value === 'boolean') {
    out.push(Buffer.from([Marker.Boolean, value ? 1 : 0]));
  } else if (typeof value === 'string') {
    out.push(Buffer.from([Marker.String]), encodeKey(value));
  } else if (value === null) {
    out.push(Buffer.from([Marker.Null]));
  } else if (value === undefined) {
    out.push(Buffer.from([Marker.Undefined]));
  } else if (Array.isArray(value)) {
    const head = Buffer.alloc(5);
    head[0] = Marker.StrictArray;
    head.writeUInt32BE(value.length, 1);
    out.push(head);
    for (const v of value) encodeValue(v, out);
  } else if (value instanceof Date) {
    const b = Buffer.alloc(11);
    b[0] = Marker.Date;
    b.writeDoubleBE(value.getTime(), 1);
    out.push(b);
  } else {
    out.push(Buffer.from([Marker.Object]));
    for (const [k, v] of Object.entries(value)) {
      out.push(encodeKey(k));
      encodeValue(v, out);
    }
    out.push(Buffer.from([0, 0, Marker.ObjectEnd]));
  }
}

export function encodeAmf0(...values: AmfValue[]): Buffer {
  const out: Buffer[] = [];
  for (const v of values) encodeValue(v, out);
  return Buffer.concat(out);
}
