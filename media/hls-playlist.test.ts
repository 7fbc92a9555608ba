// The playlist writer: what a player reads from a live or ended media playlist.

import { MAX_TARGET_DURATION_SECONDS } from '../protocol/stream-record.ts';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { lastMediaSequence, writeMediaPlaylist, writeMultivariantPlaylist, type PlaylistEntry } from './hls-playlist.ts';
import { SEGMENT_HEADERS, parseSegmentMetadata } from '../protocol/segment-metadata.ts';
import { streamDescriptorSchema, type Variant } from '../protocol/stream-record.ts';

const entry = (seq: number, extra: Partial<PlaylistEntry> = {}): PlaylistEntry => ({
  seq,
  duration: 2,
  programDateTime: new Date(Date.UTC(2026, 0, 1, 0, 0, seq * 2)).toISOString(),
  discontinuity: false,
  gap: false,
  ...extra,
});

describe('media playlist writer', () => {
  it('writes EXTINF with three decimals and a PROGRAM-DATE-TIME before each segment', () => {
    const text = writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(7, { duration: 1.9333 }), entry(8)], ended: false });
    assert.equal(
      text,
      [
        '#EXTM3U',
        '#EXT-X-VERSION:6',
        '#EXT-X-TARGETDURATION:2',
        '#EXT-X-MEDIA-SEQUENCE:7',
        '#EXT-X-DISCONTINUITY-SEQUENCE:0',
        '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:14.000Z',
        '#EXTINF:1.933,',
        '7.ts',
        '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:16.000Z',
        '#EXTINF:2.000,',
        '8.ts',
        '',
      ].join('\n'),
    );
  });

  it('marks a discontinuity before its segment and carries the discontinuity sequence', () => {
    const text = writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 3, entries: [entry(1), entry(2, { discontinuity: true })], ended: false });
    assert.match(text, /#EXT-X-DISCONTINUITY-SEQUENCE:3\n/);
    assert.match(text, /1\.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:[^\n]+\n#EXTINF:2\.000,\n2\.ts\n/);
  });

  it('lists a missing segment with EXT-X-GAP after its EXTINF', () => {
    assert.match(writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(4, { gap: true })], ended: false }), /#EXTINF:2\.000,\n#EXT-X-GAP\n4\.ts\n$/);
  });

  it('ends an ended playlist with EXT-X-ENDLIST, and a live one without', () => {
    const live = writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(0)], ended: false });
    const ended = writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(0)], ended: true });
    assert.doesNotMatch(live, /ENDLIST/);
    assert.match(ended, /0\.ts\n#EXT-X-ENDLIST\n$/);
  });

  it('advertises blocking reload only when asked', () => {
    assert.match(writeMediaPlaylist({ targetDuration: 2, canBlockReload: true, discontinuitySequence: 0, entries: [], ended: false }), /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n/);
    assert.doesNotMatch(writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [], ended: false }), /SERVER-CONTROL/);
  });

  it('reads back the first and last sequence, the target duration and the end of a written playlist', () => {
    const entries = [entry(5), entry(6, { gap: true }), entry(7, { discontinuity: true })];
    assert.deepEqual(lastMediaSequence(writeMediaPlaylist({ targetDuration: 4, discontinuitySequence: 1, entries, ended: false })), { first: 5, last: 7, targetDuration: 4, ended: false });
    assert.deepEqual(lastMediaSequence(writeMediaPlaylist({ targetDuration: 4, discontinuitySequence: 1, entries, ended: true })), { first: 5, last: 7, targetDuration: 4, ended: true });
  });
});

// An independent reader of what the writer emits, after RFC 8216 §4.1-4.2: every line is a tag, a URI of
// the expected form, or empty, and an attribute list splits into NAME=value pairs where a quoted string
// holds no quote, CR or LF. Anything an attacker managed to inject shows up as a line or attribute this
// reader does not expect, or as a value that differs from the one given.
const TAG = /^#EXT[A-Z0-9-]*(?::.*)?$/;
const ATTRIBUTE = /^([A-Z0-9-]+)=("[^"\r\n]*"|[^",\r\n]*)(?:,|$)/;

function attributes(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = list;
  for (let i = 0; rest && i < 32; i++) {
    const m = ATTRIBUTE.exec(rest);
    if (!m) throw new Error(`unparseable attribute list at ${JSON.stringify(rest)}`);
    assert.equal(out[m[1]!], undefined, `attribute ${m[1]} appears twice`);
    out[m[1]!] = m[2]!.startsWith('"') ? m[2]!.slice(1, -1) : m[2]!;
    rest = rest.slice(m[0].length);
  }
  assert.equal(rest, '', 'attribute list too long');
  return out;
}

function checkMultivariant(text: string, variants: readonly Variant[]): void {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'ends with one line break');
  assert.equal(lines[0], '#EXTM3U');
  const listed: Array<{ attrs: Record<string, string>; uri: string }> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    assert.doesNotMatch(line, /\r/);
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      const uri = lines[++i] ?? '';
      assert.match(uri, /^[A-Za-z0-9_-]{1,32}\/index\.m3u8$/);
      listed.push({ attrs: attributes(line.slice('#EXT-X-STREAM-INF:'.length)), uri });
    } else {
      assert.match(line, TAG);
      assert.ok(['#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS'].includes(line), `unexpected line ${JSON.stringify(line)}`);
    }
  }
  assert.equal(listed.length, variants.length);
  listed.forEach(({ attrs, uri }, i) => {
    const v = variants[i]!;
    assert.deepEqual(Object.keys(attrs).sort(), ['BANDWIDTH', 'CODECS', 'NAME', 'RESOLUTION', ...(v.frameRate ? ['FRAME-RATE'] : [])].sort());
    assert.equal(attrs['CODECS'], v.codecs);
    assert.equal(attrs['NAME'], v.name);
    assert.equal(attrs['BANDWIDTH'], String(v.bandwidth));
    assert.equal(attrs['RESOLUTION'], `${v.width}x${v.height}`);
    assert.equal(uri, `${v.name}/index.m3u8`);
  });
}

function checkMedia(text: string, entries: readonly PlaylistEntry[]): void {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'ends with one line break');
  const uris = lines.filter((line) => !line.startsWith('#'));
  for (const line of lines) if (line.startsWith('#')) assert.match(line, /^#EXT[A-Z0-9-]*(?::[^\r"]*)?$/);
  assert.deepEqual(uris, entries.map((e) => `${e.seq}.ts`));
  assert.equal(lines.filter((l) => l.startsWith('#EXTINF:')).length, entries.length);
}

/** Strings an attacker would try: mostly codec-like, with quotes, commas, line breaks and URL bits mixed in. */
const hostile = fc.string({ unit: fc.constantFrom('a', 'v', 'c', '1', '4', '.', ',', '-', '"', '\n', '\r', ' ', '#', ':', '/', '=', 'h', 't', 'p', 'é', '\u2028'), maxLength: 40 });
const codecs = fc.oneof({ arbitrary: fc.constantFrom('avc1.64001f', 'avc1.64001f,mp4a.40.2', 'hvc1.1.6.L93.B0,ac-3', 'mp4a.40.34'), weight: 3 }, { arbitrary: fc.stringMatching(/^[a-z0-9]{4}(\.[A-Za-z0-9]{1,6}){0,3}$/), weight: 3 }, { arbitrary: hostile, weight: 1 });
const number = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 5_000 }), weight: 10 }, { arbitrary: fc.integer({ min: -5, max: 40_000 }), weight: 1 }, { arbitrary: fc.double(), weight: 1 }, { arbitrary: fc.constantFrom(1e9, 1e10, 1e300, 29.97), weight: 1 });
const variant = fc.record(
  { name: fc.oneof({ arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/), weight: 6 }, { arbitrary: hostile, weight: 1 }), width: number, height: number, bandwidth: number, codecs, frameRate: number },
  { requiredKeys: ['name', 'width', 'height', 'bandwidth', 'codecs'] },
);

describe('playlists from hostile input', () => {
  it('refuses a CODECS value that would close the quoted string and inject a variant', () => {
    const payload = 'avc1.64001f"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttps://attacker.example/x.m3u8\n#"';
    const parsed = streamDescriptorSchema.safeParse({ playbackId: 'p', targetDuration: 2, variants: [{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: payload }] });
    assert.equal(parsed.success, false);
    assert.match(parsed.error!.issues[0]!.message, /RFC 6381/);
    assert.throws(() => writeMultivariantPlaylist([{ name: 'source', width: 640, height: 360, bandwidth: 1e6, codecs: payload }]), /refusing to write codecs/);
  });

  it('writes a playlist only from descriptors the schema accepts, and those playlists carry exactly the given values', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(variant, { minLength: 1, maxLength: 4 }), fc.oneof(number, fc.constant(2)), (variants, targetDuration) => {
        const parsed = streamDescriptorSchema.safeParse({ playbackId: 'p', targetDuration, variants });
        if (!parsed.success) return;
        accepted++;
        checkMultivariant(writeMultivariantPlaylist(parsed.data.variants), parsed.data.variants);
      }),
      { numRuns: 2_000 },
    );
    assert.ok(accepted > 20, `only ${accepted} generated descriptors were valid: the property says little`);
  });

  it('never writes an attacker-supplied line or attribute even when handed values no schema checked', () => {
    fc.assert(
      fc.property(fc.array(variant, { minLength: 1, maxLength: 3 }), (variants) => {
        let text: string;
        try {
          text = writeMultivariantPlaylist(variants as Variant[]);
        } catch (err) {
          assert.match((err as Error).message, /^refusing to write /);
          return;
        }
        checkMultivariant(text, variants as Variant[]);
      }),
      { numRuns: 2_000 },
    );
  });

  it('writes media playlists from segment metadata headers only when they parse, with no injected lines', () => {
    const header = fc.oneof(fc.constantFrom('2', '2.002', '0.5', '30', '31', '1e400', 'NaN', '-1', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00+02:00', '0', '1'), hostile, fc.double().map(String));
    fc.assert(
      fc.property(fc.array(fc.record({ seq: fc.nat(1_000_000), duration: header, pdt: fc.oneof(header, fc.date({ noInvalidDate: true }).map((d) => d.toISOString())), disc: header }), { maxLength: 6 }), (pushed) => {
        const entries: PlaylistEntry[] = [];
        for (const p of pushed) {
          let meta;
          try {
            meta = parseSegmentMetadata({ [SEGMENT_HEADERS.duration]: p.duration, [SEGMENT_HEADERS.programDateTime]: p.pdt, [SEGMENT_HEADERS.discontinuity]: p.disc });
          } catch {
            continue;
          }
          entries.push({ seq: p.seq, ...meta, gap: false });
        }
        const text = writeMediaPlaylist({ targetDuration: 30, discontinuitySequence: 0, entries, ended: false });
        checkMedia(text, entries);
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses a target duration, duration or date-time that could not have come through the schemas', () => {
    assert.throws(() => writeMediaPlaylist({ targetDuration: MAX_TARGET_DURATION_SECONDS + 1, discontinuitySequence: 0, entries: [], ended: false }), /target duration/);
    assert.throws(() => writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(1, { duration: Number.POSITIVE_INFINITY })], ended: false }), /segment duration/);
    assert.throws(() => writeMediaPlaylist({ targetDuration: 2, discontinuitySequence: 0, entries: [entry(1, { programDateTime: '2026-01-01T00:00:00Z\nhttp://x/1.ts' })], ended: false }), /program date-time/);
  });
});
