// Bounded reads of other nodes' answers live with the wire contracts (protocol/read-limited.ts), so the
// orchestrator client uses them too; this keeps the import every node already has.

export { readLimited } from '../protocol/read-limited.ts';
