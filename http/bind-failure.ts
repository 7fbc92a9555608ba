// Listening failures of any server a node opens (HTTP, RTMP), turned into messages an operator can act on.

/**
 * What a failed bind means, said plainly: the stack of EADDRINUSE tells an operator nothing they can act
 * on. `what` names the listener when a node has several (e.g. "RTMP").
 */
export function bindFailure(err: NodeJS.ErrnoException, host: string, port: number, what?: string): Error {
  const where = `${host}:${port}${what ? ` (${what})` : ''}`;
  if (err.code === 'EADDRINUSE') return new Error(`${where} is already in use by another program: stop it or choose another port`, { cause: err });
  if (err.code === 'EACCES') return new Error(`no permission to listen on ${where} (ports below 1024 need privileges)`, { cause: err });
  if (err.code === 'EADDRNOTAVAIL') return new Error(`${host} is not an address of this machine: check --host`, { cause: err });
  return err;
}
