#!/usr/bin/env node
// Entry point of the `castnet` command. Castnet runs its TypeScript directly on Node 22 (type stripping);
// npm scripts and npx put the pinned node@22 first on the PATH.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `castnet needs Node 22.18 or later (this is ${process.version}). Run it through npm, which uses the pinned node@22: ` +
      '`npm start`, or `npx castnet <command>` from the repository.\n',
  );
  process.exit(1);
}
// node:sqlite (the ledger and the redemption queue) is stable enough for us but still flagged experimental
// on Node 22; its warning would greet every user on every start.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
  if (type === 'ExperimentalWarning' && String(warning).includes('SQLite')) return;
  emitWarning.call(process, warning, ...rest);
};
await import('../cli/main.ts');
