import net from 'node:net';

/**
 * Connect a TCP socket that gathers the writes of one synchronous stretch of code into a single
 * writev. ssh2 writes each SSH packet as three or four pieces (length, ciphertext, tag), each its
 * own syscall and TCP segment without this; bulk data then costs the client, the kernel and sshd
 * a multiple of what it needs. The writes leave at the next microtask, not the next tick: a long
 * chain of awaits (a manifest being encoded) must not hold back a message written at its start.
 * Connection errors arrive as 'error' events, as with net.connect.
 */
export function connectCoalescing(host: string, port: number): net.Socket {
  const sock = net.connect({ host, port, noDelay: true });
  // Patched on the instance after connect(), which resets `write` to the prototype's.
  const write = sock.write;
  let corked = false;
  sock.write = function (this: net.Socket, ...args: Parameters<typeof write>) {
    if (!corked) {
      corked = true;
      this.cork();
      queueMicrotask(() => {
        corked = false;
        this.uncork();
      });
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof write;
  return sock;
}
