// Builds the browser bundle of <castnet-player> (hls.js included) with esbuild, once per process, in memory.

import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

let bundle: Promise<Buffer> | undefined;

export function playerBundle(): Promise<Buffer> {
  bundle ??= build({
    entryPoints: [fileURLToPath(new URL('./castnet-player.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    write: false,
    legalComments: 'none',
  }).then((result) => Buffer.from(result.outputFiles[0]!.contents));
  return bundle;
}
